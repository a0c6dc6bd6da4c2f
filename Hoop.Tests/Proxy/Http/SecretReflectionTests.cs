using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Proxy.Credentials;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Proxy.Http;

/// <summary>
/// A backend that sends its credential back (echo and debug endpoints, error pages) must never hand the stored
/// secret to the agent: in any part of the answer, in any form, however it is split across reads.
/// </summary>
public sealed class SecretReflectionTests(SecretReflectionTests.Fixture fixture) : IClassFixture<SecretReflectionTests.Fixture>
{
    /// <summary>A secret with characters JSON, URL and HTML escape differently, so each form can be told apart.</summary>
    public const string Secret = "canary+/\"<&'>-reflect-7d1e";

    public sealed class Fixture : DataPathFixture
    {
        protected override async Task AfterStartAsync()
        {
            var secrets = Hoop.Services.GetRequiredService<SecretProtector>();
            var careless = await AddConnectionAsync("careless", Backend.Address, c =>
            {
                c.TlsVerification = TlsVerification.CaBundle;
                c.CaBundlePem = Ca.Pem;
                c.ProtectedCredential = secrets.Protect(Secret);
            });
            await GrantAsync(Group, careless.Id);
        }
    }

    /// <summary>Every form of the secret an agent could decode back into it.</summary>
    private static readonly string[] Forms = SecretScrubber.For(CredentialKind.Bearer, null, Secret).Forms.ToArray();

    [Theory]
    [InlineData("text")]
    [InlineData("json")]
    [InlineData("html")]
    [InlineData("url")]
    [InlineData("ndjson")]
    [InlineData("sse-split")]
    [InlineData("large")]
    [InlineData("large-length")]
    [InlineData("gzip")]
    public async Task BackendSendsSecretBackInBody_AgentAndRecordingGetRemoved(string form)
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: $"mirror-{form}"));

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/careless/mirror?as={form}");
        request.Headers.AcceptEncoding.ParseAdd("gzip, br");
        using var response = await agent.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(response.Content.Headers.ContentEncoding);
        Assert.False(fixture.Backend.Requests.Last(r => r.Path.StartsWith("/mirror")).Headers.ContainsKey("Accept-Encoding"));
        AssertNoForm(body);
        Assert.Contains(SecretScrubber.Removed, body);
        if (response.Content.Headers.ContentLength is { } length)
        {
            Assert.Equal(Encoding.UTF8.GetByteCount(body), length);
        }

        var recorded = await RecordedAsync($"GET /careless/mirror");
        var responseBody = recorded.Last().GetProperty("response").GetProperty("body").GetProperty("text").GetString()!;
        AssertNoForm(responseBody);
        Assert.Contains(SecretScrubber.Removed, responseBody);
        Assert.Equal("response body", recorded.Last().GetProperty("secretReflected")[0].GetString());
        await AssertAuditedAsync("response body");
    }

    [Fact]
    public async Task BackendSendsSecretBackInHeaderAndTrailer_BothScrubbed()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "mirror-headers"), HttpVersion.Version20);

        using var redirect = await agent.GetAsync("/careless/mirror?as=header");
        using var trailers = await agent.GetAsync("/careless/mirror?as=trailer");
        await trailers.Content.ReadAsByteArrayAsync();

        Assert.Equal($"/next?token={Uri.EscapeDataString("Bearer ")}{SecretScrubber.Removed}", redirect.Headers.Location!.OriginalString);
        Assert.Equal($"Bearer {SecretScrubber.Removed}", trailers.TrailingHeaders.GetValues("x-seen").Single());
        await AssertAuditedAsync("response header Location");
        await AssertAuditedAsync("response trailer x-seen");
    }

    [Fact]
    public async Task BackendSendsSecretOverWebSocket_WholeAndSplitMessagesScrubbed()
    {
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + fixture.Issuer.Token(subject: "mirror-ws"));
        // Offered by the agent; Hoop takes it off, so the backend's messages stay searchable.
        socket.Options.DangerousDeflateOptions = new WebSocketDeflateOptions();
        socket.Options.RemoteCertificateValidationCallback = HoopTestHost.TrustOnly(fixture.Hoop.Certificate);
        await socket.ConnectAsync(new Uri($"wss://localhost:{fixture.Hoop.ProxyPort}/careless/mirror-ws"), CancellationToken.None);

        var whole = await ReceiveMessageAsync(socket);
        var split = await ReceiveMessageAsync(socket);
        var close = await socket.ReceiveAsync(new byte[64], CancellationToken.None);
        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);

        Assert.Equal($"Bearer {SecretScrubber.Removed}", whole);
        Assert.Equal($"Bearer {SecretScrubber.Removed}", split);
        Assert.Equal(WebSocketMessageType.Close, close.MessageType);
        Assert.Equal("bye", socket.CloseStatusDescription);
        Assert.False(fixture.Backend.Requests.Last(r => r.Path == "/mirror-ws").Headers.ContainsKey("Sec-WebSocket-Extensions"));
        await AssertAuditedAsync("websocket message");
    }

    [Fact]
    public async Task BackendWithoutReflection_AnswersUnchanged()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "no-mirror"));

        using var response = await agent.GetAsync("/careless/json");

        Assert.Equal("""{"name":"ada","card":"4111 1111 1111 1111"}""", await response.Content.ReadAsStringAsync());
        Assert.Equal(43, response.Content.Headers.ContentLength);
    }

    private static async Task<string> ReceiveMessageAsync(ClientWebSocket socket)
    {
        var message = new MemoryStream();
        var buffer = new byte[256];
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, CancellationToken.None);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);

        return Encoding.UTF8.GetString(message.ToArray());
    }

    private static void AssertNoForm(string text)
    {
        Assert.DoesNotContain("canary", text, StringComparison.Ordinal);
        foreach (var form in Forms)
        {
            Assert.DoesNotContain(form, text, StringComparison.Ordinal);
        }
    }

    private async Task<List<JsonElement>> RecordedAsync(string summaryPrefix)
    {
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var events = (await Recorded.EventsAsync(db)).Where(e => e.Summary.StartsWith(summaryPrefix, StringComparison.Ordinal)).ToList();
        Assert.All(events, e => AssertNoForm(e.Content));
        return events.Select(e => JsonDocument.Parse(e.Content).RootElement).ToList();
    }

    private async Task AssertAuditedAsync(string where)
    {
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var audited = await db.AuditEvents.Where(a => a.Action == "proxy.secret-reflected" && a.Target == "careless").ToListAsync();
        Assert.Contains(audited, a => a.Details!.Contains($"\"{where}\"", StringComparison.Ordinal));
        Assert.All(audited, a => AssertNoForm(a.Details!));
    }
}
