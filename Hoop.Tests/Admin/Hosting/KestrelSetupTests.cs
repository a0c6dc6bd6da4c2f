using System.Net;
using Hoop.Tests.Support;

namespace Hoop.Tests.Admin.Hosting;

/// <summary>
/// The TLS ports (proxy and console): a source may have 128 connections in their TLS handshake at once; the next
/// ones from it are closed at once, and clients from other addresses do not notice.
/// </summary>
public sealed class KestrelSetupTests(SlowHandshakesFixture fixture) : IClassFixture<SlowHandshakesFixture>
{
    [Fact]
    public async Task SilentFloodOnProxyPort_IsCappedForThatAddress_AgentsElsewhereAreServedAtOnce()
    {
        var (flood, reset) = await LoopbackSource.FloodAsync("127.0.0.2", fixture.Hoop.ProxyPort, 300);
        try
        {
            // All but 128 are closed at once; the 128 are still in their handshake (its deadline is two minutes here).
            var closed = await Task.WhenAll(flood.Select(s => LoopbackSource.ClosedByServerAsync(s, TimeSpan.FromSeconds(3))));
            Assert.Equal(300 - 128, reset + closed.Count(c => c));

            using var agent = fixture.Agent(fixture.Issuer.Token(groups: [DataPathFixture.Group]));
            var response = await agent.GetAsync("/billing/echo");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

            Assert.True(await LoopbackSource.ClosedAtOnceAsync("127.0.0.2", fixture.Hoop.ProxyPort));
        }
        finally
        {
            flood.ForEach(s => s.Dispose());
        }

        // The flood gone, the address is served again.
        await Eventually.TrueAsync(async () =>
        {
            using var client = LoopbackSource.HttpClient("127.0.0.2", fixture.Hoop.ProxyPort, fixture.Hoop.ProxyUrl,
                Hoop.Tests.Support.HoopTestHost.TrustOnly(fixture.Hoop.Certificate));
            client.DefaultRequestHeaders.Authorization = new("Bearer", fixture.Issuer.Token(groups: [DataPathFixture.Group]));
            try
            {
                return (await client.GetAsync("/billing/echo")).StatusCode == HttpStatusCode.OK;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        });
    }

    [Fact]
    public async Task SilentFloodOnConsolePort_IsCappedForThatAddress_TheAdminApiStillAnswers()
    {
        var (flood, reset) = await LoopbackSource.FloodAsync("127.0.0.3", fixture.Hoop.ConsolePort, 200);
        try
        {
            var closed = await Task.WhenAll(flood.Select(s => LoopbackSource.ClosedByServerAsync(s, TimeSpan.FromSeconds(3))));
            Assert.Equal(200 - 128, reset + closed.Count(c => c));

            using var admin = fixture.Hoop.CreateAdminClient();
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/v1/connections")).StatusCode);
        }
        finally
        {
            flood.ForEach(s => s.Dispose());
        }
    }
}
