using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Tests.Proxy.Http;

public sealed class BackendFailureTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    [Theory]
    [InlineData("wrong-name", "does not name 'localhost'")]
    [InlineData("expired", "the backend's certificate expired on")]
    [InlineData("self-signed", "is not issued by a CA in the connection's CA bundle")]
    public async Task BackendCertificateRefused_Is502WithTheReason(string kind, string reason)
    {
        var certificate = kind switch
        {
            "wrong-name" => fixture.Ca.Issue(["someone-else.example"]),
            "expired" => fixture.Ca.Issue(["localhost"], DateTimeOffset.UtcNow.AddDays(-30), DateTimeOffset.UtcNow.AddDays(-1)),
            _ => TestCertificateAuthority.SelfSigned(["localhost"]),
        };
        await using var backend = await TestBackend.StartAsync(certificate);
        var name = "tls-" + kind;
        var connection = await fixture.AddConnectionAsync(name, backend.Address, c =>
        {
            c.TlsVerification = TlsVerification.CaBundle;
            c.CaBundlePem = fixture.Ca.Pem;
        });
        await fixture.GrantAsync(DataPathFixture.Group, connection.Id);
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "tls-" + kind));

        var response = await agent.GetAsync($"/{name}/echo");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var detail = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString();
        Assert.Contains(reason, detail);
        Assert.Empty(backend.Requests);
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.True(await db.AuditEvents.AnyAsync(a => a.Action == "proxy.backend-error" && a.Target == name));
    }

    [Fact]
    public async Task SystemRoots_DoNotTrustAPrivateCa()
    {
        var connection = await fixture.AddConnectionAsync("system-roots", fixture.Backend.Address);
        await fixture.GrantAsync(DataPathFixture.Group, connection.Id);
        using var agent = fixture.Agent(fixture.Issuer.Token());

        var response = await agent.GetAsync("/system-roots/echo");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("not issued by a CA in the system's trusted roots", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task PinnedCertificate_MatchingIsAccepted_OtherIsRefused()
    {
        var presented = fixture.Ca.Issue(["localhost"]);
        await using var backend = await TestBackend.StartAsync(presented);
        var good = await fixture.AddConnectionAsync("pinned-good", backend.Address, c =>
        {
            c.TlsVerification = TlsVerification.Pinned;
            c.PinnedCertificateSha256 = presented.GetCertHashString(HashAlgorithmName.SHA256);
        });
        var bad = await fixture.AddConnectionAsync("pinned-bad", backend.Address, c =>
        {
            c.TlsVerification = TlsVerification.Pinned;
            c.PinnedCertificateSha256 = new string('A', 64);
        });
        await fixture.GrantAsync(DataPathFixture.Group, good.Id);
        await fixture.GrantAsync(DataPathFixture.Group, bad.Id);
        using var agent = fixture.Agent(fixture.Issuer.Token());

        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/pinned-good/echo")).StatusCode);
        var refused = await agent.GetAsync("/pinned-bad/echo");
        Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        Assert.Contains("is not the pinned one", await refused.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task PlainHttpBackend_SetExplicitly_IsServedAndRecordedAsSuch()
    {
        await using var backend = await TestBackend.StartAsync(certificate: null);
        var connection = await fixture.AddConnectionAsync("plain", backend.Address, c => c.TlsVerification = TlsVerification.Plaintext);
        await fixture.GrantAsync(DataPathFixture.Group, connection.Id);
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "plain-agent"));

        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/plain/echo")).StatusCode);

        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var recorded = (await Recorded.EventsAsync(db)).Single(e => e.Summary.StartsWith("GET /plain/", StringComparison.Ordinal));
        Assert.Contains("plain http, set by an admin", recorded.Content);
    }

    [Fact]
    public async Task PlainHttpAddress_WithoutExplicitPlaintext_IsNotServed()
    {
        await using var backend = await TestBackend.StartAsync(certificate: null);
        var connection = await fixture.AddConnectionAsync("accidental-plain", backend.Address);
        await fixture.GrantAsync(DataPathFixture.Group, connection.Id);
        using var agent = fixture.Agent(fixture.Issuer.Token());

        var response = await agent.GetAsync("/accidental-plain/echo");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Empty(backend.Requests);
    }

    [Fact]
    public async Task BackendDown_Is502Refused()
    {
        var port = Repository.FreePort();
        var connection = await fixture.AddConnectionAsync("down", new Uri($"https://localhost:{port}/"));
        await fixture.GrantAsync(DataPathFixture.Group, connection.Id);
        using var agent = fixture.Agent(fixture.Issuer.Token());

        var response = await agent.GetAsync("/down/echo");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("refused the connection", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task BackendTooSlow_Is504()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "impatient"));

        var response = await agent.GetAsync("/billing/slow/4000");

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Contains("did not answer within 2 s", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task BackendResetMidStream_AgentSeesTheBreakAndItIsRecorded()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "reset-agent"));

        // Depending on when the break is seen, the agent gets a 502 problem or a response cut short.
        using var response = await agent.GetAsync("/billing/reset", HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode == HttpStatusCode.BadGateway)
        {
            Assert.Contains("broke off the exchange", await response.Content.ReadAsStringAsync());
        }
        else
        {
            await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsByteArrayAsync());
        }

        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var session = await db.Sessions.SingleAsync(s => s.Subject == "reset-agent");
        var recorded = (await Recorded.EventsAsync(db, session.Id)).Single();
        Assert.Contains("broke off the exchange", JsonDocument.Parse(recorded.Content).RootElement.GetProperty("error").GetString());
    }
}
