using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Proxy.Policy;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Proxy.Http;

public sealed class HttpDataPathTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    [Fact]
    public async Task PathPrefix_ValidToken_ReachesBackendWithStoredCredentialOnly()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-path"));

        var response = await agent.GetAsync("/billing/echo?page=2");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var echo = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("/echo", echo.GetProperty("path").GetString());
        Assert.Equal("?page=2", echo.GetProperty("query").GetString());
        var seen = fixture.Backend.Requests.Last(r => r.Path == "/echo?page=2");
        Assert.Equal($"Bearer {DataPathFixture.Canary}", seen.Headers["Authorization"]);
    }

    /// <summary>
    /// The backend gets the path exactly as the agent wrote it after the connection's prefix: %2F stayed encoded
    /// in Kestrel's path and YARP encoded its '%' again (a%252Fb), which broke APIs with encoded slashes in ids.
    /// </summary>
    [Theory]
    [InlineData("/echo/a%2Fb")]
    [InlineData("/echo/group%2Fproject%2Fsub/files?ref=a%2Fb")]
    [InlineData("/echo/100%25")]
    [InlineData("/echo/a%20b")]
    [InlineData("/echo/caf%C3%A9")]
    [InlineData("/echo/a;b=c")]
    [InlineData("/echo/a+b")]
    [InlineData("/echo/%41%2f%2e")]
    public async Task EncodedPath_ReachesTheBackendAsTheAgentWroteIt(string target)
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-raw"));
        var exact = new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true };
        var viaHost = target + (target.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "via=host";

        await agent.GetAsync(new Uri($"https://localhost:{fixture.Hoop.ProxyPort}/billing{target}", exact));
        await agent.GetAsync(new Uri($"https://billing.hoop.localhost:{fixture.Hoop.ProxyPort}{viaHost}", exact));

        Assert.Contains(fixture.Backend.Requests, r => r.RawTarget == target);
        Assert.Contains(fixture.Backend.Requests, r => r.RawTarget == viaHost);
    }

    [Fact]
    public async Task EncodedSlash_StillMeetsTheGuardrailOnItsDecodedPath()
    {
        using (var admin = fixture.Hoop.CreateAdminClient())
        {
            await AdminApiAssert.CreatedAsync(admin, "/api/v1/guardrail-rules", new
            {
                name = "raw-admin", path = "/raw-admin/**", action = "deny", message = "No admin paths.", connection = "billing",
            });
        }

        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-raw-denied"));
        var exact = new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true };

        var response = await agent.GetAsync(new Uri($"https://localhost:{fixture.Hoop.ProxyPort}/billing/raw-admin%2Fusers", exact));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.DoesNotContain(fixture.Backend.Requests, r => r.RawTarget?.Contains("raw-admin", StringComparison.Ordinal) == true);
    }

    /// <summary>
    /// A path Kestrel had to normalise (a dot segment) goes to the backend as Hoop checked it: an escaped escape stays
    /// one, never decoded again into a dot segment or a letter that would reach a path the guardrails did not see.
    /// </summary>
    [Theory]
    [InlineData("/billing/./echo/%252e%252e/secret-area", "/echo/%252e%252e/secret-area")] // not /secret-area
    [InlineData("/billing/./echo/%2573ecret", "/echo/%2573ecret")] // not /echo/secret
    public async Task NormalisedPath_IsSentAsChecked_NeverDecodedAgain(string target, string backendTarget)
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-dot-segments"));
        var exact = new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true };

        await agent.GetAsync(new Uri($"https://localhost:{fixture.Hoop.ProxyPort}{target}", exact));

        Assert.Contains(fixture.Backend.Requests, r => r.RawTarget == backendTarget); // the test backend answers 404: the path is what counts
    }

    [Fact]
    public async Task HostName_ConnectionSubdomain_RoutesWithoutPrefix()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "agent-host"));

        var response = await agent.GetAsync(new Uri($"https://billing.hoop.localhost:{fixture.Hoop.ProxyPort}/echo"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/echo", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("path").GetString());
    }

    [Fact]
    public async Task UnknownConnection_Is404ProblemNamingIt()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token());

        var response = await agent.GetAsync("/payroll/echo");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("/payroll/echo", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Anonymous_KnownAndUnknownNames_GetTheSame401()
    {
        using var anonymous = fixture.Agent();

        var known = await anonymous.GetAsync("/billing/echo");
        var unknown = await anonymous.GetAsync("/payroll/echo");

        Assert.Equal(HttpStatusCode.Unauthorized, known.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Equal(await WithoutTraceIdAsync(known), await WithoutTraceIdAsync(unknown));
        Assert.Equal(known.Headers.WwwAuthenticate.ToString(), unknown.Headers.WwwAuthenticate.ToString());
    }

    private static async Task<string> WithoutTraceIdAsync(HttpResponseMessage response)
    {
        var problem = (await response.Content.ReadFromJsonAsync<Dictionary<string, JsonElement>>())!;
        problem.Remove("traceId");
        return JsonSerializer.Serialize(problem);
    }

    [Fact]
    public async Task ConsolePort_NeverReachesAConnection()
    {
        // Signed in to the console, so its deny-by-default policy does not answer first: had the console port
        // the proxy's routes, the gate would answer (a 401 problem: a console session is not an agent's credential).
        using var console = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl, cookies: new System.Net.CookieContainer());
        await Hoop.Tests.Admin.Auth.BreakGlassSignInTests.SignInAsync(console, "admin", HoopTestHost.AdminPassword, "/");
        Assert.Equal(HttpStatusCode.OK, (await console.GetAsync("/")).StatusCode);

        var response = await console.GetAsync("/billing/echo?via=console-port");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.DoesNotContain(fixture.Backend.Requests, r => r.Path.Contains("console-port"));
    }

    public static TheoryData<string, string> BadTokens => new()
    {
        { "none", "No credential" },
        { "garbage", "neither a JWT nor a Hoop API key" },
        { "expired", "The token expired" },
        { "wrong-audience", "audience is not accepted" },
        { "wrong-issuer", "are not accepted here" },
        { "unknown-kid", "signed with a key its issuer does not publish" },
        { "alg-none", "not signed" },
        { "hs256-public-key", "are not accepted; use an asymmetric algorithm" },
        { "unknown-api-key", "API key is unknown, revoked or expired" },
        { "basic", "Only Bearer credentials" },
        { "no-subject", "names no subject" },
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task BadCredential_Is401ProblemWithReasonAndIsAudited(string kind, string reason)
    {
        var issuer = fixture.Issuer;
        using var agent = fixture.Agent();
        var request = new HttpRequestMessage(HttpMethod.Get, "/billing/echo");
        var credential = kind switch
        {
            "none" => null,
            "garbage" => "Bearer not-a-token",
            "expired" => "Bearer " + issuer.Token(expires: DateTime.UtcNow.AddMinutes(-10)),
            "wrong-audience" => "Bearer " + issuer.Token(audience: "someone-else"),
            "wrong-issuer" => "Bearer " + issuer.Token(issuer: "https://evil.example"),
            "unknown-kid" => "Bearer " + issuer.Token(kid: "never-published"),
            "alg-none" => "Bearer " + issuer.UnsignedToken(),
            "hs256-public-key" => "Bearer " + issuer.HmacWithPublicKeyToken(),
            "unknown-api-key" => "Bearer hoop_" + new string('x', 43),
            "basic" => "Basic YWdlbnQ6c2VjcmV0",
            "no-subject" => "Bearer " + issuer.Token(subject: ""),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        if (credential is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", credential);
        }

        var response = await agent.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var detail = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString();
        Assert.Contains(reason, detail);
        Assert.StartsWith("Bearer", response.Headers.WwwAuthenticate.ToString());
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.Contains(await db.AuditEvents.Where(a => a.Action == "proxy.unauthenticated").Select(a => a.Details).ToListAsync(),
            d => d!.Contains(reason, StringComparison.Ordinal));
    }

    [Fact]
    public async Task RevokedApiKey_Is401_ValidOneWorksAndRecordsLastUse()
    {
        var (id, key) = await fixture.AddApiKeyAsync("ci-job", DataPathFixture.Group);
        using var agent = fixture.Agent(key);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/echo")).StatusCode);
        await fixture.FlushRecordingAsync();
        await using (var db = await fixture.Contexts.CreateDbContextAsync())
        {
            Assert.NotNull((await db.ApiKeys.SingleAsync(k => k.Id == id)).LastUsedAt);
            (await db.ApiKeys.SingleAsync(k => k.Id == id)).RevokedAt = DateTime.UtcNow;
            await db.ApiKeys.Where(k => k.Id == id).ExecuteUpdateAsync(u => u.SetProperty(k => k.RevokedAt, DateTime.UtcNow));
            await db.SaveChangesAsync();
        }

        await fixture.RefreshPolicyAsync();
        var refused = await agent.GetAsync("/billing/echo");

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task ApiKeyInItsOwnHeader_IsAcceptedAndStripped()
    {
        var (_, key) = await fixture.AddApiKeyAsync("header-key", DataPathFixture.Group);
        using var agent = fixture.Agent();
        var request = new HttpRequestMessage(HttpMethod.Get, "/billing/echo?via=header");
        request.Headers.Add("X-Hoop-Api-Key", key);

        var response = await agent.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("X-Hoop-Api-Key", fixture.Backend.Requests.Last(r => r.Path == "/echo?via=header").Headers.Keys);
    }

    [Fact]
    public async Task GroupWithoutGrant_Is403ProblemAndIsAudited()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "outsider", groups: ["marketing"]));

        var response = await agent.GetAsync("/billing/echo");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var detail = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString();
        Assert.Contains("None of your groups (marketing) holds a grant on connection 'billing'", detail);
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.True(await db.AuditEvents.AnyAsync(a => a.Action == "proxy.forbidden" && a.Actor == "outsider"));
    }

    [Fact]
    public async Task GroupsAsSpaceSeparatedString_AreRead()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "spaced", groupsClaimValue: $"other {DataPathFixture.Group}"));

        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/billing/echo")).StatusCode);
    }

    [Fact]
    public async Task GroupNameWithSpacesInAnArray_IsOneGroupNotTwo()
    {
        await fixture.AddGroupAsync("billing", (await fixture.AddConnectionAsync("spaced-names", fixture.Backend.Address, c =>
        {
            c.TlsVerification = Hoop.Data.Entities.TlsVerification.CaBundle;
            c.CaBundlePem = fixture.Ca.Pem;
        })).Id);
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "array-groups", groupsClaimValue: new[] { "billing team" }));

        // Split on the space, "billing team" would pass as "billing".
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.GetAsync("/spaced-names/echo")).StatusCode);
        await fixture.AddGroupAsync("billing team", (await fixture.Contexts.CreateDbContext().Connections.SingleAsync(c => c.Name == "spaced-names")).Id);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/spaced-names/echo")).StatusCode);
    }

    [Fact]
    public async Task AgentCredentialsAndSpoofedForwarding_NeverReachTheBackend()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "spoofer"));
        var request = new HttpRequestMessage(HttpMethod.Get, "/billing/echo?spoof=1");
        request.Headers.Add("Cookie", "__Host-hoop=agent-session");
        request.Headers.Add("X-Forwarded-For", "6.6.6.6");
        request.Headers.Add("X-Forwarded-Host", "evil.example");
        request.Headers.Add("Forwarded", "for=6.6.6.6");
        request.Headers.Add("X-Real-IP", "6.6.6.6");
        request.Headers.Add("X-Agent-Secret", "listed-in-connection");
        request.Headers.Connection.Add("X-Agent-Secret");

        var response = await agent.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = fixture.Backend.Requests.Last(r => r.Path == "/echo?spoof=1").Headers;
        Assert.Equal($"Bearer {DataPathFixture.Canary}", seen["Authorization"]);
        Assert.False(seen.ContainsKey("Cookie"));
        Assert.False(seen.ContainsKey("Forwarded"));
        Assert.False(seen.ContainsKey("X-Real-IP"));
        Assert.False(seen.ContainsKey("X-Agent-Secret"));
        Assert.Equal("127.0.0.1", seen["X-Forwarded-For"]);
        Assert.Equal($"localhost:{fixture.Hoop.ProxyPort}", seen["X-Forwarded-Host"]);
        Assert.Equal("https", seen["X-Forwarded-Proto"]);
    }

    [Fact]
    public async Task CanarySecret_NeverInResponsesRecordingsOrLogs()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "canary-check"));

        var reflected = await agent.GetAsync("/billing/reflect");
        var echoed = await agent.PostAsync("/billing/echo", new StringContent("hello"));
        var missing = await agent.GetAsync("/billing/status/500");

        Assert.Equal("Bearer [removed]", reflected.Headers.GetValues("X-Seen-Authorization").Single());
        foreach (var response in new[] { reflected, echoed, missing })
        {
            Assert.DoesNotContain(DataPathFixture.Canary, response.Headers.ToString() + response.Content.Headers);
            Assert.DoesNotContain(DataPathFixture.Canary, await response.Content.ReadAsStringAsync());
        }

        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.DoesNotContain(await Recorded.EventsAsync(db), e => e.Content.Contains(DataPathFixture.Canary, StringComparison.Ordinal));
        Assert.Empty(await db.AuditEvents.Where(e => e.Details!.Contains(DataPathFixture.Canary)).ToListAsync());
        Assert.Empty(await db.LogEvents.Where(e => e.Message.Contains(DataPathFixture.Canary) || e.Exception!.Contains(DataPathFixture.Canary)).ToListAsync());
    }

    [Fact]
    public async Task BasicCredentialReflectedByBackend_IsScrubbedInEveryForm()
    {
        var connection = await fixture.AddConnectionAsync("basic-auth", fixture.Backend.Address, c =>
        {
            c.TlsVerification = TlsVerification.CaBundle;
            c.CaBundlePem = fixture.Ca.Pem;
            c.CredentialKind = CredentialKind.Basic;
            c.CredentialName = "svc";
        });
        await fixture.GrantAsync(DataPathFixture.Group, connection.Id);
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "basic-reflect"));

        var response = await agent.GetAsync("/basic-auth/reflect");

        var basic = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"svc:{DataPathFixture.Canary}"));
        Assert.Equal($"Basic {basic}", fixture.Backend.Requests.Last(r => r.Path == "/reflect").Headers["Authorization"]);
        Assert.Equal("Basic [removed]", response.Headers.GetValues("X-Seen-Authorization").Single());
    }

    [Fact]
    public async Task OverlongIssuerWithOddCharacters_Is401NotAServerError()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(issuer: "https://é" + new string('x', 200)));

        var response = await agent.GetAsync("/billing/echo");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Exchange_IsRecordedAsSessionEventWithoutCredentials()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "recorded-agent"));

        await agent.PostAsync("/billing/echo?n=1", JsonContent.Create(new { question = "balance?" }));
        await agent.GetAsync("/billing/echo?n=2");
        await fixture.FlushRecordingAsync();

        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var session = await db.Sessions.SingleAsync(s => s.Subject == "recorded-agent");
        Assert.Equal("billing", session.ConnectionName);
        Assert.Equal(SessionStatus.Open, session.Status);
        Assert.Equal([DataPathFixture.Group], session.Groups);
        var events = (await Recorded.EventsAsync(db, session.Id)).OrderBy(e => e.Sequence).ToList();
        Assert.Equal([1, 2], events.Select(e => e.Sequence));
        Assert.Equal("POST /billing/echo?… 200", events[0].Summary);
        var content = JsonDocument.Parse(events[0].Content).RootElement;
        Assert.Equal("POST", content.GetProperty("request").GetProperty("method").GetString());
        Assert.Contains("balance?", content.GetProperty("request").GetProperty("body").GetProperty("text").GetString());
        Assert.Contains("balance?", content.GetProperty("response").GetProperty("body").GetProperty("text").GetString());
        Assert.Equal("[removed]", content.GetProperty("request").GetProperty("headers").GetProperty("Authorization").GetString());
        Assert.StartsWith("Tls", content.GetProperty("tls").GetProperty("inbound").GetString());
        Assert.StartsWith("Tls", content.GetProperty("tls").GetProperty("upstream").GetString());
    }

    [Fact]
    public async Task NewConnectionInStore_IsPickedUpByTheNextPoll_WithoutRestartOrReload()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "live-change"));
        Assert.Equal(HttpStatusCode.NotFound, (await agent.GetAsync("/ledger/echo")).StatusCode);
        var policy = fixture.Hoop.Services.GetRequiredService<PolicyStore>();
        var swapped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watch = Microsoft.Extensions.Primitives.ChangeToken.OnChange(() => policy.ChangeToken,
            () => { if (policy.Current.Connections.ContainsKey("ledger")) { swapped.TrySetResult(); } });

        // Written straight to the store, as another instance or the console would: no reload call.
        await using (var db = await fixture.Contexts.CreateDbContextAsync())
        {
            var ledger = new Connection
            {
                Name = "ledger", Kind = ConnectionKind.Http, Address = fixture.Backend.Address.ToString(),
                TlsVerification = TlsVerification.CaBundle, CaBundlePem = fixture.Ca.Pem,
            };
            db.Connections.Add(ledger);
            var group = await db.Groups.SingleAsync(g => g.Name == DataPathFixture.Group);
            db.Grants.Add(new Grant { GroupId = group.Id, ConnectionId = ledger.Id });
            await db.SaveChangesAsync();
        }

        // The store's policy version changed; the poll (once a second) notices and swaps the snapshot in.
        await swapped.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // YARP applies the new routes a moment after the swap (until then the gate answers 503 "changing").
        HttpStatusCode status = default;
        await Eventually.TrueAsync(async () => (status = (await agent.GetAsync("/ledger/echo")).StatusCode) == HttpStatusCode.OK, TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public async Task ConfigurationChange_DoesNotDisturbRequestInFlight()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "in-flight"));
        var policy = fixture.Hoop.Services.GetRequiredService<PolicyStore>();
        var held = agent.GetAsync("/billing/hold");
        // In flight: the backend holds the request until the test lets it go.
        await Eventually.TrueAsync(() => fixture.Backend.Held.Waiting == 1, TimeSpan.FromSeconds(10));

        var before = policy.Current;
        await fixture.AddConnectionAsync("unrelated", fixture.Backend.Address);

        Assert.NotSame(before, policy.Current);
        Assert.True(policy.Current.Connections.ContainsKey("unrelated"));
        Assert.False(held.IsCompleted, "the configuration changed while the request was in flight");
        fixture.Backend.Held.Release();
        Assert.Equal(HttpStatusCode.OK, (await held).StatusCode);
    }
}
