using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Tests.Admin.Api;

public sealed class AdminApiTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    private const string Secret = "canary-api-7c2e-ledger-backend-key";

    private HttpClient Admin()
    {
        var client = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{HoopTestHost.AdminPassword}")));
        return client;
    }

    [Fact]
    public async Task Anonymous_Is401Problem()
    {
        using var client = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl);

        var response = await client.GetAsync("/api/v1/connections");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task ApiCall_IsLoggedWithMethodPathAndStatus_ConsolePagesAreNot()
    {
        using var admin = Admin();
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/api/v1/connections/logged-call-probe")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/healthz")).StatusCode);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        List<string> lines;
        do
        {
            await Task.Delay(100);
            await using var db = await fixture.Contexts.CreateDbContextAsync();
            lines = await db.LogEvents.Where(e => e.Message.Contains("logged-call-probe") || e.Message.Contains("/healthz")).Select(e => e.Message).ToListAsync();
        }
        while (lines.Count == 0 && DateTime.UtcNow < deadline);

        var line = Assert.Single(lines);
        Assert.Matches("^\"GET\" \"/api/v1/connections/logged-call-probe\" answered 404 in [0-9.]+ ms$", line);
    }

    [Fact]
    public async Task ConnectionAndGroupCreatedThroughApi_AgentReachesBackendWithStoredSecret()
    {
        using var admin = Admin();
        var created = await admin.PostAsJsonAsync("/api/v1/connections", new
        {
            name = "ledger-api",
            kind = "Http",
            address = fixture.Backend.Address.ToString(),
            tlsVerification = "CaBundle",
            caBundlePem = fixture.Ca.Pem,
            credential = new { kind = "Bearer", secret = Secret },
        });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("/api/v1/connections/ledger-api", created.Headers.Location?.OriginalString);
        Assert.NotNull(created.Headers.ETag);
        var body = await created.Content.ReadAsStringAsync();
        Assert.DoesNotContain(Secret, body);
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("credential").GetProperty("set").GetBoolean());

        var group = await admin.PostAsJsonAsync("/api/v1/groups", new { name = "ledger-agents", roles = Array.Empty<string>(), connections = new[] { "ledger-api" } });
        Assert.Equal(HttpStatusCode.Created, group.StatusCode);

        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "ledger-bot", groups: ["ledger-agents"]));
        var status = HttpStatusCode.NotFound;
        for (var i = 0; i < 100 && status != HttpStatusCode.OK; i++)
        {
            status = (await agent.GetAsync("/ledger-api/echo?via=api")).StatusCode;
            await Task.Delay(status == HttpStatusCode.OK ? 0 : 100);
        }

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal($"Bearer {Secret}", fixture.Backend.Requests.Last(r => r.Path == "/echo?via=api").Headers["Authorization"]);

        var listed = await admin.GetStringAsync("/api/v1/connections");
        Assert.DoesNotContain(Secret, listed);
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var audit = await db.AuditEvents.Where(a => a.Action == "connection.create" && a.Target == "ledger-api").SingleAsync();
        Assert.Equal("break-glass", audit.Actor);
        Assert.DoesNotContain(Secret, audit.Details);
    }

    [Fact]
    public async Task InvalidConnection_Is400WithFieldErrorsAndNothingSaved()
    {
        using var admin = Admin();

        var response = await admin.PostAsJsonAsync("/api/v1/connections", new
        {
            name = "Not A Label",
            kind = "Http",
            address = "http://backend.internal/",
            tlsVerification = "CaBundle",
            caBundlePem = "not a certificate",
            credential = new { kind = "Header", secret = "x" },
        });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var errors = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
        Assert.True(errors.TryGetProperty("name", out _));
        Assert.True(errors.TryGetProperty("tlsVerification", out _));
        Assert.True(errors.TryGetProperty("caBundlePem", out _));
        Assert.True(errors.TryGetProperty("credential.name", out _));
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.False(await db.Connections.AnyAsync(c => c.Address == "http://backend.internal/"));
    }

    [Fact]
    public async Task DuplicateName_Is409()
    {
        using var admin = Admin();
        var input = new { name = "dup-check", kind = "Http", address = "https://dup.example/" };

        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/v1/connections", input)).StatusCode);
        var again = await admin.PostAsJsonAsync("/api/v1/connections", input);

        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.True((await again.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("name", out _));
    }

    [Fact]
    public async Task ConcurrentEdit_SecondSaveWithStaleETagIs412()
    {
        using var admin = Admin();
        await admin.PostAsJsonAsync("/api/v1/connections", new { name = "etag-check", kind = "Http", address = "https://one.example/" });
        var read = await admin.GetAsync("/api/v1/connections/etag-check");
        var etag = read.Headers.ETag!;

        var first = new HttpRequestMessage(HttpMethod.Put, "/api/v1/connections/etag-check") { Content = JsonContent.Create(new { address = "https://two.example/" }) };
        first.Headers.IfMatch.Add(etag);
        var second = new HttpRequestMessage(HttpMethod.Put, "/api/v1/connections/etag-check") { Content = JsonContent.Create(new { address = "https://three.example/" }) };
        second.Headers.IfMatch.Add(etag);

        Assert.Equal(HttpStatusCode.OK, (await admin.SendAsync(first)).StatusCode);
        Assert.Equal(HttpStatusCode.PreconditionFailed, (await admin.SendAsync(second)).StatusCode);
        var now = await admin.GetFromJsonAsync<JsonElement>("/api/v1/connections/etag-check");
        Assert.Equal("https://two.example/", now.GetProperty("address").GetString());
    }

    [Fact]
    public async Task ApiKey_ShownOnce_WorksOnProxy_RevokedStopsWorking()
    {
        using var admin = Admin();
        var created = await admin.PostAsJsonAsync("/api/v1/api-keys", new { name = "nightly-job", groups = new[] { DataPathFixture.Group } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
        Assert.StartsWith("hoop_", key);
        Assert.DoesNotContain(key, await admin.GetStringAsync("/api/v1/api-keys"));

        using var agent = fixture.Agent(key);
        Assert.Equal(HttpStatusCode.OK, await EventuallyAsync(agent, HttpStatusCode.OK));

        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync("/api/v1/api-keys/nightly-job")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await EventuallyAsync(agent, HttpStatusCode.Unauthorized));
    }

    [Fact]
    public async Task TokenWithoutAdminRole_Is403_WithAdminGroupIsAllowed()
    {
        using var admin = Admin();
        await admin.PostAsJsonAsync("/api/v1/groups", new { name = "platform-admins", roles = new[] { "admin" } });
        await fixture.RefreshPolicyAsync();

        using var plain = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl);
        plain.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.Issuer.Token(groups: [DataPathFixture.Group]));
        using var platform = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl);
        platform.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.Issuer.Token(subject: "platform-bot", groups: ["platform-admins"]));

        Assert.Equal(HttpStatusCode.Forbidden, (await plain.GetAsync("/api/v1/groups")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await platform.GetAsync("/api/v1/groups")).StatusCode);
    }

    [Fact]
    public async Task GroupBoundToAnotherIssuer_GivesNoRole_BoundToTheTokensIssuerItDoes()
    {
        using var admin = Admin();
        // A provider that answers: an issuer is saved only once its discovery and keys could be read.
        await using var partnerIssuer = await TestIssuer.StartAsync();
        var partner = await admin.PostAsJsonAsync("/api/v1/issuers", new
        {
            displayName = "Partner", authority = partnerIssuer.Authority, audience = "urn:hoop:proxy", requireHttpsMetadata = false,
        });
        Assert.Equal(HttpStatusCode.Created, partner.StatusCode);
        var unknown = await admin.PostAsJsonAsync("/api/v1/groups", new { name = "ops-admins", roles = new[] { "admin" }, issuer = "https://nobody.example/" });
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/v1/groups",
            new { name = "ops-admins", roles = new[] { "admin" }, issuer = partnerIssuer.Authority })).StatusCode);
        await fixture.RefreshPolicyAsync();
        using var claimer = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl);
        claimer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.Issuer.Token(subject: "claimer", groups: ["ops-admins"]));

        // The same group name from another provider is not that group.
        Assert.Equal(HttpStatusCode.Forbidden, (await claimer.GetAsync("/api/v1/groups")).StatusCode);

        var bound = await admin.GetAsync("/api/v1/groups/ops-admins");
        using var rebind = new HttpRequestMessage(HttpMethod.Put, "/api/v1/groups/ops-admins")
        {
            Content = JsonContent.Create(new { roles = new[] { "admin" }, issuer = fixture.Issuer.Authority }),
        };
        rebind.Headers.IfMatch.Add(bound.Headers.ETag!);
        Assert.Equal(HttpStatusCode.OK, (await admin.SendAsync(rebind)).StatusCode);
        await fixture.RefreshPolicyAsync();
        Assert.Equal(HttpStatusCode.OK, (await claimer.GetAsync("/api/v1/groups")).StatusCode);
    }

    [Fact]
    public async Task AdminApi_IsNotReachableOnTheProxyPort()
    {
        using var agent = fixture.Agent();
        agent.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{HoopTestHost.AdminPassword}")));

        // The break-glass Basic credential means nothing on the proxy port.
        Assert.Equal(HttpStatusCode.Unauthorized, (await agent.GetAsync("/api/v1/connections")).StatusCode);
        // An agent's valid token still finds no such connection.
        using var known = fixture.Agent(fixture.Issuer.Token(subject: "lost-agent"));
        Assert.Equal(HttpStatusCode.NotFound, (await known.GetAsync("/api/v1/connections")).StatusCode);
    }

    private static async Task<HttpStatusCode> EventuallyAsync(HttpClient agent, HttpStatusCode wanted)
    {
        var status = HttpStatusCode.Continue;
        for (var i = 0; i < 100 && status != wanted; i++)
        {
            status = (await agent.GetAsync("/billing/echo")).StatusCode;
            if (status != wanted)
            {
                await Task.Delay(100);
            }
        }

        return status;
    }
}
