using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Hoop.Admin.Management;
using Hoop.Proxy.Policy;
using Hoop.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Hoop.Tests.Admin.Console;

/// <summary>
/// The console in headless Chromium against a real identity provider: from an empty Hoop to an agent's recorded
/// session, every step in the browser; and what an auditor may not do.
/// </summary>
[Collection(Timing.Name)]
public sealed class ConsoleEndToEndTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    [Fact]
    public async Task NewAdmin_GoesFromEmptyHoopToAnAgentsRecordedSession_EntirelyInTheConsole()
    {
        var page = await fixture.NewPageAsync();

        // First setup: the break-glass admin registers the identity provider and the admins' group.
        await ConsoleFixture.BreakGlassSignInAsync(page);
        await page.ScreenshotAsync(new() { Path = Shot("dashboard") });
        await page.GotoAsync("settings");
        await page.ClickAsync("[data-test=new-issuer]");
        await page.FillAsync("#i-name", "Test IdP");
        await page.FillAsync("#i-authority", fixture.Provider.Authority);
        await page.FillAsync("#i-audience", OidcProvider.Audience);
        await page.FillAsync("#i-client", ConsoleFixture.ConsoleClient);
        await page.FillAsync("#i-secret", ConsoleFixture.ConsoleSecret);
        await page.ClickAsync("[data-test=save-issuer]");
        // Plain http discovery is refused until "require https" is turned off: the reason shows beside the field.
        await Expect(page.Locator("[data-field-error=authority]")).ToContainTextAsync("https");
        await Expect(page.Locator("#i-ca")).ToBeVisibleAsync();
        await page.ScreenshotAsync(new() { Path = Shot("settings-issuer-form"), FullPage = true });
        await page.Locator("#i-https").ClickAsync();
        await page.ClickAsync("[data-test=save-issuer]");
        await Expect(page.Locator("[data-test=issuers]")).ToContainTextAsync(fixture.Provider.Authority);
        await page.ScreenshotAsync(new() { Path = Shot("settings") });

        await CreateGroupAsync(page, "hoop-admins", role: "admin");
        await CreateGroupAsync(page, "ledger-agents", role: null);
        await page.ScreenshotAsync(new() { Path = Shot("groups") });
        await page.ClickAsync("[data-test=sign-out]");
        await Expect(page.Locator("[data-test=sign-in-with]")).ToBeVisibleAsync();

        // Alice signs in through the provider's own login form; her group makes her an admin.
        await ConsoleFixture.ProviderSignInAsync(page, "alice");
        await Expect(page.Locator("[data-test=user]")).ToHaveTextAsync("alice");
        await Expect(page.Locator("[data-test=roles]")).ToHaveTextAsync("Admin");

        // A connection: a wrong address is refused beside its field and nothing is saved; then the right one.
        await page.GotoAsync("connections");
        await page.ClickAsync("[data-test=new-connection]");
        await page.FillAsync("#c-name", "ledger");
        await page.FillAsync("#c-address", "not a url");
        await page.ClickAsync("[data-test=save-connection]");
        await Expect(page.Locator("[data-field-error=address]")).ToBeVisibleAsync();
        Assert.DoesNotContain(await fixture.Hoop.Services.GetRequiredService<ConnectionService>().ListAsync(default), c => c.Name == "ledger");

        await page.FillAsync("#c-address", fixture.Backend.Address.ToString());
        await ConsoleFixture.ChooseAsync(page, "TLS verification", "CaBundle");
        await page.FillAsync("#c-ca", fixture.Ca.Pem);
        await page.FillAsync("#c-secret", ConsoleFixture.Canary);
        await ConsoleFixture.ChooseAsync(page, "Granted to groups", "ledger-agents");
        await page.ClickAsync("[data-test=save-connection]");
        // Saved: the record's own page, with a confirmation that stays until dismissed.
        await Expect(page.Locator("[data-test=saved]")).ToBeVisibleAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/connections/ledger$"));
        await Expect(page.Locator("[data-test=credential]")).ToContainTextAsync("Bearer: set, last changed");
        await Expect(page.Locator("[data-test=snippets]")).ToContainTextAsync("curl --cacert certificate.pem");
        await Expect(page.Locator("[data-test=snippets]")).Not.ToContainTextAsync("kubectl"); // A plain HTTP API gets no kubeconfig.
        await page.Context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"]);
        await page.Locator("[data-test=snippets] [data-test=copy]").First.ClickAsync();
        await Expect(page.Locator(".mud-snackbar", new() { HasText = "copied" })).ToBeVisibleAsync();
        Assert.StartsWith("curl --cacert certificate.pem", await page.EvaluateAsync<string>("navigator.clipboard.readText()"));
        await page.ClickAsync("[data-test=test-connection]");
        await Expect(page.Locator("[data-test=test-result]")).ToContainTextAsync("is reachable");
        await page.ScreenshotAsync(new() { Path = Shot("connections"), FullPage = true });
        Assert.DoesNotContain(ConsoleFixture.Canary, await page.ContentAsync());

        // Someone else changes the connection while the form is open: the second save is told, and nothing is saved.
        var connections = fixture.Hoop.Services.GetRequiredService<ConnectionService>();
        await connections.UpdateAsync("ledger", new ConnectionInput(null, null, null, null, null, null, null, null, 30), null, "someone-else", default);
        await page.FillAsync("#c-retention", "7");
        await page.ClickAsync("[data-test=save-connection]");
        var notice = page.Locator(".mud-snackbar", new() { HasText = "Changed by someone else" });
        await Expect(notice).ToBeVisibleAsync();
        // The notification sits beside the form it reports on, not over it.
        var (box, form) = (await notice.BoundingBoxAsync(), await page.Locator("[data-test=connection-form]").BoundingBoxAsync());
        Assert.True(box!.X >= form!.X + form.Width || box.Y >= form.Y + form.Height, "the notification covers the form");
        Assert.Equal(30, (await connections.GetAsync("ledger", default))!.RetentionDays);

        // The agent: a client-credentials token from the provider, curl-equivalent call through the proxy port.
        using var agent = fixture.Hoop.CreateClient(fixture.Hoop.ProxyUrl);
        agent.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            await fixture.Provider.ClientCredentialsTokenAsync(ConsoleFixture.LedgerAgent));
        var answer = await agent.GetAsync("/ledger/echo?from=console-test");
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal($"Bearer {ConsoleFixture.Canary}", fixture.Backend.Requests.Last(r => r.Path == "/echo?from=console-test").Headers["Authorization"]);

        // Alice finds the agent's session and its request.
        await page.GotoAsync("sessions");
        var row = page.Locator("[data-test=sessions] tr", new() { HasText = "ledger-agent" });
        await Expect(row).ToBeVisibleAsync(new() { Timeout = 10_000 });
        await row.First.ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/sessions/[0-9a-f-]{36}$"));
        await Expect(page.Locator("[data-test=session-events]")).ToContainTextAsync("GET /ledger/echo");
        // The event as Replay shows it: request and response side by side, the record pretty-printed.
        await page.Locator("[data-test=session-events] summary").First.ClickAsync();
        await Expect(page.Locator("[data-test=session-events] .hoop-side-by-side").First).ToContainTextAsync("GET /ledger/echo?from=console-test");
        await Expect(page.Locator("[data-test=session-events]")).ToContainTextAsync("\"path\": \"/ledger/echo\"");
        await page.ClickAsync("[data-test=session-verify]");
        await Expect(page.Locator("[data-test=session-verified]")).ToContainTextAsync("Intact");
        await page.ScreenshotAsync(new() { Path = Shot("sessions"), FullPage = true });

        await page.GotoAsync("audit");
        await Expect(page.Locator("[data-test=audit]")).ToContainTextAsync("connection.create");
        await page.ScreenshotAsync(new() { Path = Shot("audit") });
        Assert.DoesNotContain(ConsoleFixture.Canary, await page.ContentAsync());

        await page.GotoAsync("certificates");
        await Expect(page.Locator("[data-test=current-certificate]")).ToContainTextAsync("SelfSigned");
        await Expect(page.Locator("[data-test=certificate-history] tr", new() { HasText = "in use" })).ToHaveCountAsync(1);
        await page.FillAsync("#a-directory", "http://acme.example/directory");
        await page.ClickAsync("[data-test=save-acme]");
        await Expect(page.Locator("[data-test=acme]")).ToContainTextAsync("is not an https URL of an ACME directory");
        Assert.Null(fixture.Hoop.Services.GetRequiredService<PolicyStore>().Current.Certificates.Acme.DirectoryUrl);
        await page.ScreenshotAsync(new() { Path = Shot("certificates"), FullPage = true });

        // Signing out ends the provider's session too: the next sign-in asks for the login again.
        await page.ClickAsync("[data-test=sign-out]");
        await page.ClickAsync("button[name=logout][value=yes]");
        await Expect(page.Locator("[role=status]")).ToHaveTextAsync("You are signed out.");
        await page.ClickAsync("[data-test=sign-in-with]");
        await Expect(page.Locator("input[name=login]")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Auditor_ReplaysASession_PlaysAndSeeks_AndRecordedMarkupStaysText()
    {
        await EnsureProviderRegisteredAsync();
        // A recorded session whose content carries markup, script, an ANSI escape and a direction override.
        var recorder = fixture.Hoop.Services.GetRequiredService<Hoop.Proxy.Recording.Recorder>();
        var session = new Hoop.Data.Entities.Session
        {
            ConnectionName = "replayed", Subject = "replayed-agent", StartedAt = DateTime.UtcNow, Status = Hoop.Data.Entities.SessionStatus.Closed,
        };
        recorder.Enqueue(session);
        string[] payloads =
        [
            "<img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2</script>",
            "\u001b[31mred\u001b]8;;https://evil.example\u0007link",
            "invoice \u202Egpj.exe",
        ];
        for (var i = 0; i < 3; i++)
        {
            recorder.Enqueue(new Hoop.Data.Entities.SessionEvent
            {
                SessionId = session.Id, Sequence = i + 1, At = session.StartedAt.AddMilliseconds(300 * i), Kind = i == 1 ? "sql-denied" : "sql",
                Marks = i == 1 ? Hoop.Data.Entities.EventMarks.Denied : Hoop.Data.Entities.EventMarks.None, Summary = $"SELECT {i}",
                Content = Hoop.Data.Records.RecordJson.Write(new Hoop.Data.Records.SqlQueryRecord
                {
                    Query = payloads[i], Protocol = "simple", Columns = ["id", "note"], Rows = [[$"{i}", payloads[i]]], RowCount = 1,
                }),
            });
        }

        await recorder.FlushAsync(default);
        var page = await fixture.NewPageAsync();
        await page.GotoAsync($"auth/oidc?issuer={Uri.EscapeDataString(fixture.Provider.Authority)}");
        await ConsoleFixture.CompleteProviderFormAsync(page, "carol");

        await page.GotoAsync($"sessions/{session.Id}/replay");
        await Expect(page.Locator("[data-test=replay-position]")).ToHaveTextAsync("Event 1 of 3");
        await Expect(page.Locator("[data-test=replay-content]")).ToContainTextAsync("<script>window.__pwned=2</script>");
        Assert.Equal("undefined", await page.EvaluateAsync<string>("typeof window.__pwned"));
        Assert.Equal(0, await page.Locator("[data-test=replay-content] img").CountAsync());
        await Expect(page.Locator("[data-test=replay-rows]")).ToContainTextAsync("<script>window.__pwned=2</script>"); // The result table, as text too.
        Assert.Equal(0, await page.Locator("[data-test=replay-rows] img").CountAsync());

        await page.ClickAsync("[data-test=replay-mark]"); // The denial's marker.
        await Expect(page.Locator("[data-test=replay-position]")).ToHaveTextAsync("Event 2 of 3");
        await Expect(page.Locator("[data-test=replay-event]")).ToContainTextAsync("denied");
        // Control characters show as escapes (whether JSON wrote them so or the viewer did), never as the raw character.
        await Expect(page.Locator("[data-test=replay-content]")).ToContainTextAsync("31mred");
        Assert.Contains("\\u001b[31mred", (await page.Locator("[data-test=replay-content]").InnerTextAsync()).ToLowerInvariant());

        await page.Locator("[data-test=replay-seek]").FillAsync("0");
        await Expect(page.Locator("[data-test=replay-position]")).ToHaveTextAsync("Event 1 of 3");
        await page.ClickAsync("[data-test=replay-play]");
        await Expect(page.Locator("[data-test=replay-position]")).ToHaveTextAsync("Event 3 of 3", new() { Timeout = 10_000 });
        await Expect(page.Locator("[data-test=replay-content]")).ToContainTextAsync("gpj.exe");
        Assert.Contains("\\u202egpj.exe", (await page.Locator("[data-test=replay-content]").InnerTextAsync()).ToLowerInvariant());
        Assert.DoesNotContain("\u202e", await page.Locator("[data-test=replay-content]").InnerTextAsync());
        await page.ScreenshotAsync(new() { Path = Shot("replay"), FullPage = true });

        await using var db = await fixture.Hoop.Services.GetRequiredService<Microsoft.EntityFrameworkCore.IDbContextFactory<Hoop.Data.Store.HoopDbContext>>().CreateDbContextAsync();
        Assert.True(db.AuditEvents.Any(a => a.Action == "session.replay" && a.Target == session.Id.ToString()));
    }

    [Fact]
    public async Task User_SeesTheirOwnSessionsOnly_AndOnlyOnceAnAdminAllowsIt()
    {
        await EnsureProviderRegisteredAsync();
        var services = fixture.Hoop.Services;
        var token = await fixture.Provider.ClientCredentialsTokenAsync(ConsoleFixture.RefundAgent);
        var botSubject = new Microsoft.IdentityModel.JsonWebTokens.JsonWebToken(token).Subject;
        var authority = fixture.Provider.Authority;
        Hoop.Data.Entities.Session Recorded(string connection, string subject) => new()
        {
            ConnectionName = connection, Subject = subject, CallerKey = Hoop.Proxy.Model.Caller.KeyOf(subject, authority, null),
            StartedAt = DateTime.UtcNow, Status = Hoop.Data.Entities.SessionStatus.Closed,
        };
        var daves = Recorded("daves-ledger", "dave");
        var eves = Recorded("eves-ledger", "eve");
        var bots = Recorded("bots-ledger", botSubject);
        // Same subject, other provider: someone else.
        var lookalike = Recorded("lookalike-ledger", "dave");
        lookalike.CallerKey = Hoop.Proxy.Model.Caller.KeyOf("dave", "https://other-idp.example", null);
        var recorder = services.GetRequiredService<Hoop.Proxy.Recording.Recorder>();
        foreach (var session in new[] { daves, eves, bots, lookalike })
        {
            recorder.Enqueue(session);
            recorder.Enqueue(new Hoop.Data.Entities.SessionEvent
            {
                SessionId = session.Id, Sequence = 1, At = session.StartedAt, Kind = "http", Summary = $"GET /{session.ConnectionName}", Content = "{}",
            });
        }

        await recorder.FlushAsync(default);
        var settings = services.GetRequiredService<RecordingSettingsService>();
        using var api = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl);
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        // Off (the default): dave, who holds no role, sees no session; the agent's API call is refused.
        var page = await fixture.NewPageAsync();
        await page.GotoAsync($"auth/oidc?issuer={Uri.EscapeDataString(authority)}");
        await ConsoleFixture.CompleteProviderFormAsync(page, "dave");
        await page.GotoAsync("sessions");
        await Expect(page.Locator("[data-test=not-allowed]")).ToBeVisibleAsync();
        await page.GotoAsync($"sessions/{daves.Id}/replay");
        await Expect(page.Locator("text=No such session.")).ToBeVisibleAsync();
        Assert.Equal(HttpStatusCode.Forbidden, (await api.GetAsync("/api/v1/sessions")).StatusCode);

        try
        {
            Assert.Equal(ChangeStatus.Ok, (await settings.SaveAsync(new RecordingSettingsInput(null, null, null, UsersSeeOwnSessions: true), null, "test", default)).Status);

            await page.GotoAsync("sessions");
            await Expect(page.Locator("[data-test=sessions]")).ToContainTextAsync("daves-ledger");
            await Expect(page.Locator("[data-test=sessions]")).Not.ToContainTextAsync("eves-ledger");
            await Expect(page.Locator("[data-test=sessions]")).Not.ToContainTextAsync("lookalike-ledger");
            await Expect(page.Locator("[data-test=session-verify]")).ToHaveCountAsync(0);

            // Live: a session that starts now appears without a reload.
            await page.ClickAsync("[data-test=session-live]");
            var later = Recorded("daves-live-ledger", "dave");
            recorder.Enqueue(later);
            await recorder.FlushAsync(default);
            await Expect(page.Locator("[data-test=sessions]")).ToContainTextAsync("daves-live-ledger");
            await page.GotoAsync($"sessions/{daves.Id}/replay");
            await Expect(page.Locator("[data-test=replay-position]")).ToHaveTextAsync("Event 1 of 1");
            await page.GotoAsync($"sessions/{eves.Id}/replay");
            await Expect(page.Locator("text=No such session.")).ToBeVisibleAsync();
            // Moving within the live page (the same component, another id) is checked as strictly as a new load.
            await page.GotoAsync($"sessions/{daves.Id}/replay");
            await Expect(page.Locator("[data-test=replay-position]")).ToHaveTextAsync("Event 1 of 1");
            await page.EvaluateAsync($"Blazor.navigateTo('sessions/{eves.Id}/replay')");
            await Expect(page.Locator("text=No such session.")).ToBeVisibleAsync();
            await Expect(page.Locator("[data-test=replay-event]")).ToHaveCountAsync(0);

            // The API answers an agent the same way: its own sessions, nobody else's, and no auditor's export.
            var listed = await api.GetFromJsonAsync<System.Text.Json.JsonElement[]>("/api/v1/sessions?limit=500");
            Assert.Contains(listed!, s => s.GetProperty("id").GetGuid() == bots.Id);
            Assert.All(listed!, s => Assert.Equal(bots.CallerKey, s.GetProperty("callerKey").GetString()));
            Assert.Equal(HttpStatusCode.OK, (await api.GetAsync($"/api/v1/sessions/{bots.Id}")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await api.GetAsync($"/api/v1/sessions/{eves.Id}")).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await api.GetAsync($"/api/v1/sessions/{bots.Id}/export")).StatusCode);
        }
        finally
        {
            await settings.SaveAsync(new RecordingSettingsInput(null, null, null, UsersSeeOwnSessions: false), null, "test", default);
        }

        // Switched off again, it counts at the next page.
        await page.GotoAsync("sessions");
        await Expect(page.Locator("[data-test=not-allowed]")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Auditor_ReadsButCannotChange_InTheConsoleOrTheApi_AndAForeignReturnUrlIsIgnored()
    {
        await EnsureProviderRegisteredAsync();
        var page = await fixture.NewPageAsync();

        // Sign-in that asks to return to another site lands on the console instead.
        await page.GotoAsync($"auth/oidc?issuer={Uri.EscapeDataString(fixture.Provider.Authority)}&returnUrl={Uri.EscapeDataString("https://evil.example/")}");
        await ConsoleFixture.CompleteProviderFormAsync(page, "carol");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Dashboard");
        Assert.StartsWith(fixture.Hoop.ConsoleUrl.ToString(), page.Url);
        await Expect(page.Locator("[data-test=roles]")).ToHaveTextAsync("Auditor");

        await page.GotoAsync("audit");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Audit log");
        await page.GotoAsync("connections");
        await Expect(page.Locator("[data-test=not-allowed]")).ToBeVisibleAsync();
        await Expect(page.Locator("[data-test=new-connection]")).ToHaveCountAsync(0);

        // The admin API refuses a token whose groups carry only the auditor role.
        using var api = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl);
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer",
            await fixture.Provider.ClientCredentialsTokenAsync(ConsoleFixture.AuditorBot));
        var refused = await api.PostAsJsonAsync("/api/v1/groups", new { name = "sneaky", roles = new[] { "admin" } });
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/audit?search=console.login")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/sessions")).StatusCode);

        // Roles are read at every request: give the auditors' group admin, and carol's next page load has it.
        var groups = fixture.Hoop.Services.GetRequiredService<GroupService>();
        var auditors = (await groups.GetAsync("hoop-auditors", default))!;
        await groups.SaveAsync(auditors.Name, new GroupInput(null, ["auditor", "admin"], []), auditors.Version, "test", default);
        await fixture.Hoop.Services.GetRequiredService<PolicyStore>().RefreshAsync(default);
        await page.GotoAsync("connections");
        await Expect(page.Locator("[data-test=new-connection]")).ToBeVisibleAsync();
        await groups.SaveAsync(auditors.Name, new GroupInput(null, ["auditor"], []), null, "test", default);
    }

    [Fact]
    public async Task HeldRequest_ApprovedByAReviewerInTheConsole_RunsExactlyOnce()
    {
        await EnsureProviderRegisteredAsync();
        var services = fixture.Hoop.Services;
        var connection = await services.GetRequiredService<ConnectionService>().CreateAsync(new ConnectionInput("refunds", Hoop.Data.Entities.ConnectionKind.Http,
            fixture.Backend.Address.ToString(), Hoop.Data.Entities.TlsVerification.CaBundle, fixture.Ca.Pem, null, null, true, null), "test", default);
        Assert.Equal(ChangeStatus.Created, connection.Status);
        var groups = services.GetRequiredService<GroupService>();
        await groups.SaveAsync(null, new GroupInput("refund-agents", [], ["refunds"]), null, "test", default);
        await groups.SaveAsync(null, new GroupInput("hoop-reviewers", ["reviewer"], []), null, "test", default);

        // The admin writes the rule in the console.
        var admin = await fixture.NewPageAsync();
        await ConsoleFixture.BreakGlassSignInAsync(admin);
        await admin.GotoAsync("guardrails");
        await admin.ClickAsync("[data-test=new-guardrail]");
        await admin.FillAsync("#gr-name", "refunds-reviewed");
        await admin.FillAsync("#gr-method", "POST");
        await admin.FillAsync("#gr-path", "/echo");
        await ConsoleFixture.ChooseAsync(admin, "Action", "review");
        await admin.FillAsync("#gr-message", "Refunds need a reviewer.");
        await ConsoleFixture.ChooseAsync(admin, "Connection", "refunds");
        await admin.ClickAsync("[data-test=save-guardrail]");
        await Expect(admin.Locator("[data-test=guardrails]")).ToContainTextAsync("refunds-reviewed");

        // The agent is held, with the review's id and link.
        using var agent = fixture.Hoop.CreateClient(fixture.Hoop.ProxyUrl);
        agent.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await fixture.Provider.ClientCredentialsTokenAsync(ConsoleFixture.RefundAgent));
        agent.DefaultRequestHeaders.Add("X-Hoop-Justification", "order 991 was charged twice");
        var held = await agent.PostAsJsonAsync("/refunds/echo?case=console-review", new { order = 991 });
        Assert.Equal(HttpStatusCode.Forbidden, held.StatusCode);
        var reviewUrl = (await held.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("reviewUrl").GetString()!;

        // Rita, a reviewer, opens the link, sees who asked what and why, and approves once.
        var reviewer = await fixture.NewPageAsync();
        await reviewer.GotoAsync(reviewUrl);
        await reviewer.ClickAsync("[data-test=sign-in-with]");
        await ConsoleFixture.CompleteProviderFormAsync(reviewer, "rita");
        await Expect(reviewer.Locator("h1")).ToHaveTextAsync("Reviews");
        Assert.Equal(reviewUrl, reviewer.Url);
        await Expect(reviewer.Locator("[data-test=justification]")).ToHaveTextAsync("order 991 was charged twice");
        await Expect(reviewer.Locator("[data-test=review-request]")).ToContainTextAsync("/echo");
        await reviewer.ScreenshotAsync(new() { Path = Shot("reviews"), FullPage = true });
        // A rejection needs the reason the agent is told: without one, nothing is decided.
        await reviewer.ClickAsync("[data-test=reject]");
        await Expect(reviewer.Locator("[data-field-error=reason]")).ToBeVisibleAsync();
        await Expect(reviewer.Locator("[data-test=no-pending]")).ToHaveCountAsync(0);
        await reviewer.ClickAsync("[data-test=approve-once]");
        await Expect(reviewer.Locator("[data-test=decided-reviews]")).ToContainTextAsync("approved");

        Assert.Equal(HttpStatusCode.OK, (await agent.PostAsJsonAsync("/refunds/echo?case=console-review", new { order = 991 })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.PostAsJsonAsync("/refunds/echo?case=console-review", new { order = 991 })).StatusCode);
        Assert.Single(fixture.Backend.Requests, r => r.Path == "/echo?case=console-review");

        // The session shows the hold beside the exchange that ran after the approval.
        await fixture.Hoop.Services.GetRequiredService<Hoop.Proxy.Recording.Recorder>().FlushAsync(default);
        await admin.GotoAsync("sessions");
        await admin.Locator("[data-test=sessions] tr", new() { HasText = "refund-agent" }).First.ClickAsync();
        await Expect(admin.Locator("[data-test=session-events]")).ToContainTextAsync("held for review");

        // Its replay marks the holds, the reviewer's decision and the request that ran on the approval.
        await admin.ClickAsync("[data-test=session-replay]");
        await Expect(admin.Locator("[data-test=replay-mark][data-kind=held]")).ToHaveCountAsync(2); // Before the approval, and after its one use.
        await Expect(admin.Locator("[data-test=replay-mark][data-kind=approved]")).ToHaveCountAsync(1);
        await admin.ClickAsync("[data-test=replay-mark][data-kind=decision]");
        await Expect(admin.Locator("[data-test=replay-decision]")).ToContainTextAsync("approved by rita");
        await Expect(admin.Locator("[data-test=replay-flags]")).ToContainTextAsync("ran on a reviewer's approval");
        await Expect(admin.Locator("[data-test=replay-content]")).ToContainTextAsync("approvedBy");
        await Expect(admin.Locator("[data-test=replay-body]").First).ToContainTextAsync("\"order\": 991"); // The JSON body, pretty-printed.
    }

    [Fact]
    public async Task Admin_WritesAMaskingRule_AndTheTesterShowsWhatItMasks()
    {
        var page = await fixture.NewPageAsync();
        await ConsoleFixture.BreakGlassSignInAsync(page);
        await page.GotoAsync("masking");

        // A pattern that needs backtracking is refused beside its field; nothing is saved.
        await page.ClickAsync("[data-test=new-masking-rule]");
        await page.FillAsync("#m-name", "tickets");
        await ConsoleFixture.ChooseAsync(page, "Detector", "regex");
        await page.FillAsync("#m-pattern", "(?<=ticket )\\d+");
        await page.ClickAsync("[data-test=save-masking-rule]");
        await Expect(page.Locator("[data-field-error=pattern]")).ToContainTextAsync("non-backtracking");
        await page.FillAsync("#m-pattern", "TCK-\\d{6}");
        await page.ClickAsync("[data-test=save-masking-rule]");
        await Expect(page.Locator("[data-test=masking-rules]")).ToContainTextAsync("TCK-\\d{6}");

        await page.FillAsync("#t-sample", "ticket TCK-123456, ticket TCK-12");
        await page.Keyboard.PressAsync("Tab");
        await Expect(page.Locator("[data-test=tester-output]")).ToHaveTextAsync("ticket [TICKETS], ticket TCK-12");
        await Expect(page.Locator("[data-test=tester-matches]")).ToContainTextAsync("characters 7–17");
        await page.ScreenshotAsync(new() { Path = Shot("masking"), FullPage = true });
    }

    private async Task EnsureProviderRegisteredAsync()
    {
        var issuers = fixture.Hoop.Services.GetRequiredService<IssuerService>();
        if ((await issuers.ListAsync(default)).All(i => i.Authority != fixture.Provider.Authority))
        {
            await issuers.SaveAsync(null, new IssuerInput("Test IdP", fixture.Provider.Authority, OidcProvider.Audience, "groups",
                ConsoleFixture.ConsoleClient, ConsoleFixture.ConsoleSecret, RequireHttpsMetadata: false), null, "test", default);
        }

        var groups = fixture.Hoop.Services.GetRequiredService<GroupService>();
        if (await groups.GetAsync("hoop-auditors", default) is null)
        {
            await groups.SaveAsync(null, new GroupInput("hoop-auditors", ["auditor"], []), null, "test", default);
        }
    }

    private static async Task CreateGroupAsync(IPage page, string name, string? role)
    {
        await page.GotoAsync("groups");
        await page.ClickAsync("[data-test=new-group]");
        await page.FillAsync("#g-name", name);
        if (role is not null)
        {
            await page.Locator("[data-test=group-form] [data-test=roles]").GetByText(role, new() { Exact = true }).ClickAsync();
        }

        await page.ClickAsync("[data-test=save-group]");
        await Expect(page.Locator("[data-test=saved]")).ToBeVisibleAsync();
        await Expect(page).ToHaveURLAsync(new Regex($"/groups/{name}$"));
    }

    private static string Shot(string name) => Path.Combine(ConsoleFixture.Screenshots, $"{name}.png");

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    private static IPageAssertions Expect(IPage page) => Assertions.Expect(page);
}
