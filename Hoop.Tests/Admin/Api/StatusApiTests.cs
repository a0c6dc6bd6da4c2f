using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Hoop.Tests.Support;

namespace Hoop.Tests.Admin.Api;

/// <summary>The dashboard's overview and Hoop's own log through the admin API, and who may read them.</summary>
public sealed class StatusApiTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    [Fact]
    public async Task Overview_ShowsLiveSessionsDenialsAndHealth_ToAuditorsAndAdmins()
    {
        using var admin = fixture.Hoop.CreateAdminClient();
        await AdminApiAssert.CreatedAsync(admin, "/api/v1/groups", new { name = "status-auditors", roles = new[] { "auditor" } });
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "status-agent"));
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/echo")).StatusCode);
        using var refused = fixture.Agent("not-a-token");
        Assert.Equal(HttpStatusCode.Unauthorized, (await refused.GetAsync("/billing/echo")).StatusCode);
        await fixture.FlushRecordingAsync();

        using var auditor = WithToken(fixture.Issuer.Token(subject: "status-auditor", groups: ["status-auditors"]));
        var overview = JsonDocument.Parse(await auditor.GetStringAsync("/api/v1/overview")).RootElement;

        Assert.True(overview.GetProperty("liveSessions").GetInt32() >= 1);
        Assert.Contains(overview.GetProperty("live").EnumerateArray(), s => s.GetProperty("agent").GetString() == "status-agent");
        Assert.Contains(overview.GetProperty("denials").EnumerateArray(), d => d.GetProperty("action").GetString() == "proxy.unauthenticated");
        Assert.True(overview.GetProperty("recording").GetProperty("healthy").GetBoolean());
        Assert.Equal("Required", overview.GetProperty("recording").GetProperty("mode").GetString());
        Assert.False(string.IsNullOrEmpty(overview.GetProperty("certificate").GetProperty("thumbprint").GetString()));
        Assert.DoesNotContain("pfx", overview.GetRawText(), StringComparison.OrdinalIgnoreCase); // never the key
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/v1/overview")).StatusCode);
    }

    [Fact]
    public async Task Logs_AreForAdminsOnly_AndFilterByLevelAndText()
    {
        using var admin = fixture.Hoop.CreateAdminClient();
        await AdminApiAssert.CreatedAsync(admin, "/api/v1/groups", new { name = "log-auditors", roles = new[] { "auditor" } });
        using var auditor = WithToken(fixture.Issuer.Token(subject: "log-auditor", groups: ["log-auditors"]));
        using var nobody = WithToken(fixture.Issuer.Token(subject: "log-nobody", groups: []));

        var logs = JsonDocument.Parse(await admin.GetStringAsync("/api/v1/logs?level=Information&hours=1&limit=50")).RootElement;
        var warnings = JsonDocument.Parse(await admin.GetStringAsync("/api/v1/logs?level=Warning&hours=24")).RootElement;
        var bad = await admin.GetAsync("/api/v1/logs?level=Verbose");

        Assert.NotEqual(0, logs.GetArrayLength()); // start-up alone logs at Information
        Assert.All(warnings.EnumerateArray(), e => Assert.Contains(e.GetProperty("level").GetString(), new[] { "Warning", "Error", "Fatal" }));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("Information, Warning, Error", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await auditor.GetAsync("/api/v1/logs")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await nobody.GetAsync("/api/v1/logs")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await nobody.GetAsync("/api/v1/overview")).StatusCode);
    }

    private HttpClient WithToken(string token)
    {
        var client = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }
}
