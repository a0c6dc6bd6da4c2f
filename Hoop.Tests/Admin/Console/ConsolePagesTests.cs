using System.Net;
using System.Text.RegularExpressions;
using Hoop.Admin.Management;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Records;
using Hoop.Proxy.Recording;
using Hoop.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Hoop.Tests.Admin.Console;

/// <summary>
/// Every console page for every role in Chromium at 1280x800: what each role reaches and what it must not, the
/// accessibility check (axe-core) on each page it reaches, readable tables, the replay player's keys and links, the
/// audit log's filters, diff and export, the "not found" page, and one OIDC flow per sign-in click.
/// </summary>
[Collection(Timing.Name)]
public sealed class ConsolePagesTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    private const int Width = 1280;
    private const int Height = 800;

    /// <summary>Each page: its address, its heading, and the roles that may open it.</summary>
    private sealed record ConsolePage(string Slug, string Path, string Heading, params string[] Roles);

    private static readonly string[] Everyone = ["admin", "auditor", "reviewer", "none"];

    private static IEnumerable<ConsolePage> Pages(Guid session) =>
    [
        new("dashboard", "", "Dashboard", Everyone),
        new("connections", "connections", "Connections", "admin"),
        new("connection", "connections/ledger", "ledger", "admin"),
        new("connection-new", "connections/new", "New connection", "admin"),
        new("groups", "groups", "Groups", "admin"),
        new("group", "groups/developers", "developers", "admin"),
        new("api-keys", "api-keys", "API keys", "admin"),
        new("masking", "masking", "Masking", "admin"),
        new("guardrails", "guardrails", "Guardrails", "admin"),
        new("reviews", "reviews", "Reviews", "admin", "reviewer"),
        new("sessions", "sessions", "Sessions", "admin", "auditor"),
        new("session", $"sessions/{session}", "replayed — replayed-agent", "admin", "auditor"),
        new("replay", $"sessions/{session}/replay", "Replay", "admin", "auditor"),
        new("audit", "audit", "Audit log", "admin", "auditor"),
        new("certificates", "certificates", "Certificates", "admin", "auditor"),
        new("logs", "logs", "Logs", "admin"),
        new("settings", "settings", "Settings", "admin"),
    ];

    [Theory]
    [InlineData("alice", "admin")]
    [InlineData("carol", "auditor")]
    [InlineData("rita", "reviewer")]
    [InlineData("dave", "none")]
    public async Task EveryPage_ForEachRole_OpensOnlyWhatTheRoleMayUse_ReadableAndAccessible(string user, string role)
    {
        var session = await SeedAsync();
        var page = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(page, user);

        foreach (var shown in Pages(session))
        {
            await page.GotoAsync(shown.Path);
            if (!shown.Roles.Contains(role))
            {
                // Refused inside the layout: the role's explanation, or "no such session" for a session that is not theirs.
                await Expect(page.Locator("[data-test=not-allowed], [data-test=not-found]").First).ToBeVisibleAsync();
                continue;
            }

            await Expect(page.Locator("h1")).ToHaveTextAsync(shown.Heading);
            await Expect(page.Locator("[data-test=not-allowed], [data-test=not-found]")).ToHaveCountAsync(0);
            await AssertAccessibleAsync(page, shown.Slug);
            await AssertColumnsReadableAsync(page, shown.Slug);
            if (role == "admin")
            {
                await page.ScreenshotAsync(new() { Path = Shot(shown.Slug), FullPage = true });
            }
        }

        // The menu offers exactly the pages the role may open.
        await page.GotoAsync("");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Dashboard");
        var menu = await page.Locator("nav .mud-nav-link").AllInnerTextsAsync();
        var expected = Pages(session).Where(p => p.Roles.Contains(role) && !p.Path.Contains('/'))
            .Select(p => p.Heading).ToList();
        Assert.Equal(expected.Order(), menu.Select(m => m.Trim()).Order());
    }

    [Fact]
    public async Task Dashboard_WithoutARole_ShowsOnlyTheirIdentityAndWhatTheyMayDo()
    {
        await SeedAsync();
        var page = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(page, "dave");

        await Expect(page.Locator("[data-test=identity]")).ToContainTextAsync("dave");
        await Expect(page.Locator("[data-test=identity]")).ToContainTextAsync("developers");
        await Expect(page.Locator("[data-test=may-do]")).ToContainTextAsync("ledger");
        foreach (var gatewayState in new[] { "live-sessions", "denials", "listeners", "break-glass", "recording-health", "certificate" })
        {
            await Expect(page.Locator($"[data-test={gatewayState}]")).ToHaveCountAsync(0);
        }

        Assert.DoesNotContain(fixture.Hoop.Services.GetRequiredService<Hoop.Data.Store.StoreOptions>().DatabasePath, await page.ContentAsync());
        await page.ScreenshotAsync(new() { Path = Shot("dashboard-no-role") });
    }

    [Fact]
    public async Task Dashboard_ForAuditors_ChartsTheLastDayFromTheStore()
    {
        await SeedAsync();
        var page = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(page, "carol");

        // The seeded session: five requests on "replayed", one denied, one masked.
        var row = page.Locator("[data-test=per-connection] tr", new() { HasText = "replayed" });
        await Expect(row.Locator("td")).ToHaveTextAsync(["replayed", "5", "1", "0", "1", ""]);
        await Expect(page.Locator("[data-test=chart-requests] svg").First).ToBeVisibleAsync();
        Assert.True(await page.Locator("[data-test=chart-requests] svg path").CountAsync() > 0);
        await page.ScreenshotAsync(new() { Path = Shot("dashboard-charts"), FullPage = true });
        var overview = await fixture.Hoop.Services.GetRequiredService<OverviewService>().GetAsync(default);
        Assert.Equal(24, overview.Activity.Hours.Count);
        Assert.Equal(new ConnectionActivity("replayed", 5, 1, 0, 1), overview.Activity.Connections.Single(c => c.Connection == "replayed"));
    }

    [Fact]
    public async Task Theme_SwitchesBetweenLightAndDark()
    {
        await SeedAsync();
        var page = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(page, "alice");
        var background = () => page.EvaluateAsync<string>("getComputedStyle(document.body).backgroundColor");
        var light = await background();

        await page.ClickAsync("[data-test=theme]");

        await Expect(page.Locator("[data-test=theme]")).ToHaveAttributeAsync("aria-label", "Light theme");
        Assert.NotEqual(light, await background());
        await AssertAccessibleAsync(page, "dashboard (dark)");
        await page.ScreenshotAsync(new() { Path = Shot("dashboard-dark") });
    }

    [Fact]
    public async Task UnknownAddress_ShowsNotFoundInsideTheLayout_WhileTheApiKeepsProblemJson()
    {
        await SeedAsync();
        var page = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(page, "alice");

        var answer = await page.GotoAsync("no/such/page");

        Assert.Equal(404, answer!.Status);
        await Expect(page.Locator("h1")).ToHaveTextAsync("Not found");
        await Expect(page.Locator("nav .mud-nav-link", new() { HasText = "Connections" })).ToBeVisibleAsync(); // The menu is there: a way back.
        await AssertAccessibleAsync(page, "not found");
        await page.GotoAsync("connections/no-such-connection");
        await Expect(page.Locator("[data-test=not-found]")).ToContainTextAsync("no-such-connection");

        using var api = fixture.Hoop.CreateAdminClient();
        api.DefaultRequestHeaders.Accept.ParseAdd("text/html"); // Even when asked as a browser would.
        var problem = await api.GetAsync("/api/v1/connections/no-such-connection");
        Assert.Equal(HttpStatusCode.NotFound, problem.StatusCode);
        Assert.Equal("application/problem+json", problem.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task SignInWithProvider_StartsTheFlowOncePerClick()
    {
        await SeedAsync();
        var page = await fixture.NewPageAsync(Width, Height);
        var starts = 0;
        page.Request += (_, request) =>
        {
            if (request.Url.Contains("/auth/oidc?", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref starts);
            }
        };
        await page.GotoAsync("login");
        await AssertAccessibleAsync(page, "sign-in");
        await page.ScreenshotAsync(new() { Path = Shot("sign-in") });

        await page.ClickAsync("[data-test=sign-in-with]");
        await Expect(page.Locator("input[name=login]")).ToBeVisibleAsync();

        Assert.Equal(1, starts);
    }

    [Fact]
    public async Task Replay_IsPlayedWithTheKeyboard_AndEachEventHasItsOwnLink()
    {
        var session = await SeedAsync();
        var page = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(page, "carol");
        var position = page.Locator("[data-test=replay-position]");

        // A link to event 4 opens the replay there.
        await page.GotoAsync($"sessions/{session}/replay#event-4");
        await Expect(position).ToHaveTextAsync("Event 4 of 5");
        await Expect(page.Locator("[data-test=replay-player][data-keys=on]")).ToBeVisibleAsync(); // Keys are live.
        await Expect(page.Locator("[data-test=replay-legend]")).ToContainTextAsync("denied");
        await Expect(page.Locator("[data-test=replay-timeline]")).ToContainTextAsync("Denials and holds");

        await page.Keyboard.PressAsync("ArrowLeft");
        await Expect(position).ToHaveTextAsync("Event 3 of 5");
        await Expect(page.Locator("[data-test=replay-event]")).ToContainTextAsync("denied");
        await Expect(page).ToHaveURLAsync(new Regex($"/sessions/{session}/replay#event-3$")); // The address follows, to be shared.
        await page.Keyboard.PressAsync("n"); // Next marker: the masked event.
        await Expect(position).ToHaveTextAsync("Event 5 of 5");
        await page.Keyboard.PressAsync("p");
        await Expect(position).ToHaveTextAsync("Event 3 of 5");
        await page.Keyboard.PressAsync("Home");
        await Expect(position).ToHaveTextAsync("Event 1 of 5");
        await page.Keyboard.PressAsync("ArrowRight");
        await Expect(position).ToHaveTextAsync("Event 2 of 5");
        await page.Keyboard.PressAsync(" ");
        await Expect(position).ToHaveTextAsync("Event 5 of 5", new() { Timeout = 10_000 });
        await Expect(page.Locator("[data-test=replay-play]")).ToHaveAttributeAsync("aria-label", "Play"); // Stopped at the end.

        // The HTTP exchange side by side: request and response.
        await Expect(page.Locator("[data-test=replay-event] .hoop-side-by-side")).ToContainTextAsync("POST /ledger/orders");
        await Expect(page.Locator("[data-test=replay-event] .hoop-side-by-side")).ToContainTextAsync("201");

        // Opening the link in a new tab lands on the same event.
        var shared = page.Url;
        var other = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(other, "carol");
        await other.GotoAsync(shared);
        await Expect(other).ToHaveURLAsync(shared);
        await Expect(other.Locator("[data-test=replay-position]")).ToHaveTextAsync("Event 5 of 5");
    }

    [Fact]
    public async Task Replay_OfAHundredThousandEvents_OpensAndMovesAtOnce()
    {
        await SeedAsync();
        const int Events = 100_000;
        var recorder = fixture.Hoop.Services.GetRequiredService<Recorder>();
        var session = new Session { ConnectionName = "long", Subject = "long-agent", StartedAt = DateTime.UtcNow, Status = SessionStatus.Closed };
        recorder.Enqueue(session);
        for (var i = 1; i <= Events; i++)
        {
            var denied = i % 10_000 == 0;
            while (!recorder.Enqueue(new SessionEvent
                   {
                       SessionId = session.Id, Sequence = i, At = session.StartedAt.AddMilliseconds(i), Kind = denied ? "http-denied" : "http",
                       Marks = denied ? EventMarks.Denied : EventMarks.None, Summary = $"GET /items/{i}", Content = "{}",
                   }))
            {
                await Task.Delay(10); // The recorder's queue is full: let it write.
            }
        }

        await recorder.FlushAsync(default);
        var page = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(page, "carol");
        var position = page.Locator("[data-test=replay-position]");

        await page.GotoAsync($"sessions/{session.Id}/replay");
        await Expect(position).ToHaveTextAsync($"Event 1 of {Events:0}");
        await Expect(page.Locator("[data-test=replay-mark][data-kind=denied]")).ToHaveCountAsync(10);
        await Expect(page.Locator("[data-test=replay-player][data-keys=on]")).ToBeVisibleAsync();
        await page.Keyboard.PressAsync("End");
        await Expect(position).ToHaveTextAsync($"Event {Events:0} of {Events:0}");
        await Expect(page.Locator("[data-test=replay-event]")).ToContainTextAsync($"GET /items/{Events}");
        await page.Keyboard.PressAsync("p");
        await Expect(position).ToHaveTextAsync($"Event 90000 of {Events:0}");
        await page.Locator("[data-test=replay-seek]").FillAsync("54320");
        await Expect(page.Locator("[data-test=replay-event]")).ToContainTextAsync("GET /items/54321");
    }

    [Fact]
    public async Task AuditLog_FiltersOnTheServer_PagesExpandsToADiff_AndExportsTheFilteredRange()
    {
        await SeedAsync();
        var audit = fixture.Hoop.Services.GetRequiredService<AuditLog>();
        for (var i = 0; i < 60; i++)
        {
            await audit.WriteAsync("paging-test", "test.paging", $"item-{i}", AuditOutcome.Success, new { before = new { n = i }, after = new { n = i + 1 } });
        }

        var groups = fixture.Hoop.Services.GetRequiredService<GroupService>();
        var group = await groups.SaveAsync(null, new GroupInput("audited", [], []), null, "test", default);
        await groups.SaveAsync("audited", new GroupInput(null, ["auditor"], []), group.Value!.Version, "diff-test", default);
        var page = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(page, "carol");
        await page.GotoAsync("audit");

        await page.FillAsync("#a-action", "test.paging");
        await page.ClickAsync("[data-test=audit-search]");
        await Expect(page.Locator(".mud-table-pagination")).ToContainTextAsync("1-50 of 60");
        await Expect(page.Locator("[data-test=audit] tbody tr")).ToHaveCountAsync(50);
        await page.Locator(".mud-table-pagination button[aria-label='Next page']").ClickAsync();
        await Expect(page.Locator(".mud-table-pagination")).ToContainTextAsync("51-60 of 60");

        await page.FillAsync("#a-action", "group.update");
        await page.FillAsync("#a-actor", "diff-test");
        await page.ClickAsync("[data-test=audit-search]");
        var row = page.Locator("[data-test=audit] tbody tr", new() { HasText = "diff-test" });
        await Expect(row).ToHaveCountAsync(1);
        await Expect(page.Locator("[data-test=audit] tbody tr", new() { HasText = "paging-test" })).ToHaveCountAsync(0);
        await row.ClickAsync();
        var diff = page.Locator("[data-test=audit-diff]");
        await Expect(diff.Locator("tr", new() { HasText = "roles" }).Locator(".hoop-diff-added")).ToHaveTextAsync("auditor");
        await AssertAccessibleAsync(page, "audit (expanded)");
        await page.ScreenshotAsync(new() { Path = Shot("audit-diff") });

        var download = await page.RunAndWaitForDownloadAsync(() => page.ClickAsync("[data-test=audit-export]"));
        var csv = await File.ReadAllLinesAsync((await download.PathAsync())!);
        Assert.Equal("id,at,actor,action,target,outcome,details,hash", csv[0]);
        Assert.Single(csv.Skip(1));
        Assert.Contains("\"group.update\"", csv[1]);

        // Typed by anyone (a failed sign-in's user name is audited as its target): never a formula in a spreadsheet.
        await audit.WriteAsync("csv-test", "console.login", "=HYPERLINK(\"https://evil.example\")", AuditOutcome.Denied);
        using var written = new StringWriter();
        await fixture.Hoop.Services.GetRequiredService<IntegrityService>().ExportAuditCsvAsync(new AuditFilter(Actor: "csv-test"), "test", written, default);
        Assert.Contains("\"'=HYPERLINK(\"\"https://evil.example\"\")\"", written.ToString());
    }

    [Fact]
    public async Task Forms_RefuseBadInputBesideTheField_SaveNothing_ThenSaveGoodInput()
    {
        await SeedAsync();
        var page = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(page, "alice");
        var services = fixture.Hoop.Services;

        // A group without a name.
        await page.GotoAsync("groups/new");
        await page.ClickAsync("[data-test=save-group]");
        await Expect(page.Locator("[data-field-error=name]")).ToBeVisibleAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/groups/new$"));
        await page.FillAsync("#g-name", "form-test-group");
        await page.ClickAsync("[data-test=save-group]");
        await Expect(page.Locator("[data-test=saved]")).ToBeVisibleAsync();
        Assert.NotNull(await services.GetRequiredService<GroupService>().GetAsync("form-test-group", default));

        // A guardrail without a name.
        var rules = (await services.GetRequiredService<GuardrailRuleService>().ListAsync(default)).Count;
        await page.GotoAsync("guardrails");
        await page.ClickAsync("[data-test=new-guardrail]");
        await page.ClickAsync("[data-test=save-guardrail]");
        await Expect(page.Locator("[data-field-error=name]")).ToBeVisibleAsync();
        Assert.Equal(rules, (await services.GetRequiredService<GuardrailRuleService>().ListAsync(default)).Count);

        // An API key: refused without a name; then shown once, with a copy button, and never again.
        await page.GotoAsync("api-keys");
        await page.ClickAsync("[data-test=create-key]");
        await Expect(page.Locator("[data-field-error=name]")).ToBeVisibleAsync();
        await page.FillAsync("#k-name", "form-test-agent");
        await ConsoleFixture.ChooseAsync(page, "Groups", "developers");
        await page.ClickAsync("[data-test=create-key]");
        var key = await page.Locator("[data-test=key]").InnerTextAsync();
        Assert.False(string.IsNullOrWhiteSpace(key));
        await Expect(page.Locator("[data-test=api-keys]")).ToContainTextAsync("form-test-agent");
        await page.ReloadAsync();
        await Expect(page.Locator("[data-test=api-keys]")).ToContainTextAsync("form-test-agent");
        Assert.DoesNotContain(key.Trim(), await page.ContentAsync());
    }

    [Fact]
    public async Task SettingsAndCertificateForms_RefuseBadInputBesideTheField_AndSaveGoodInput()
    {
        await SeedAsync();
        var page = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(page, "alice");
        var recording = fixture.Hoop.Services.GetRequiredService<RecordingSettingsService>();

        // Recording: a body limit out of range is refused beside its field; a right one applies.
        await page.GotoAsync("settings");
        await page.FillAsync("#r-body", "99999");
        await page.ClickAsync("[data-test=save-recording]");
        await Expect(page.Locator("[data-field-error=maxBodyKilobytes]")).ToContainTextAsync("10,240");
        await page.FillAsync("#r-body", "128");
        await page.ClickAsync("[data-test=save-recording]");
        await Expect(page.Locator(".mud-snackbar", new() { HasText = "Recording settings saved." })).ToBeVisibleAsync();
        await Expect(page.Locator("[data-field-error=maxBodyKilobytes]")).ToHaveCountAsync(0);
        Assert.Equal(128, (await recording.GetAsync(default)).MaxBodyKilobytes);

        // The break-glass password: the current one must be given.
        await page.FillAsync("#b-current", "not-the-password");
        await page.FillAsync("#b-new", "a long enough new passphrase");
        await page.ClickAsync("[data-test=change-password]");
        await Expect(page.Locator("[data-field-error=currentPassword]")).ToBeVisibleAsync();

        // An uploaded certificate whose key is another one's: refused, the certificate in use stays.
        var inUse = fixture.Hoop.Certificate.Thumbprint;
        using var certificate = fixture.Ca.Issue(["localhost", "hoop.localhost"]);
        using var otherKey = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        await page.GotoAsync("certificates");
        await page.FillAsync("#u-cert", certificate.ExportCertificatePem());
        await page.FillAsync("#u-key", otherKey.ExportPkcs8PrivateKeyPem());
        await page.ClickAsync("[data-test=upload-pem]");
        await Expect(page.Locator("[data-test=upload] [data-field-error], [data-test=upload] .mud-alert").First).ToBeVisibleAsync();
        Assert.Equal(inUse, fixture.Hoop.Services.GetRequiredService<Hoop.Proxy.Certificates.InboundCertificate>().Certificate?.Thumbprint);
    }

    [Fact]
    public async Task Sessions_FiltersFitAt1280_AndMoreFiltersFoldAway()
    {
        await SeedAsync();
        var page = await fixture.NewPageAsync(Width, Height);
        await SignInAsync(page, "carol");
        await page.GotoAsync("sessions");

        var search = await page.Locator("[data-test=session-search]").BoundingBoxAsync();
        var live = await page.Locator("[data-test=session-live]").BoundingBoxAsync();
        Assert.True(search!.X + search.Width <= Width && live!.X + live.Width <= Width, "the filter bar overflows at 1280 px");
        Assert.True(Math.Abs(search.Y - live.Y) < search.Height, "the filter bar wraps at 1280 px");
        await Expect(page.Locator("#s-contains")).Not.ToBeVisibleAsync();

        await page.ClickAsync("[data-test=session-more]");
        await page.FillAsync("#s-contains", "ledger/orders");
        await page.ClickAsync("[data-test=session-search]");
        await Expect(page.Locator("[data-test=sessions] tbody tr", new() { HasText = "replayed" })).ToHaveCountAsync(1);
        await Expect(page.Locator("[data-test=sessions] tbody tr", new() { HasText = "ledger" })).ToHaveCountAsync(0);
        await Expect(page.Locator("[data-test=session-more]")).ToContainTextAsync("(1)");
    }

    private static Task SignInAsync(IPage page, string user) => SignInAsync(page, user, "");

    private static async Task SignInAsync(IPage page, string user, string returnUrl)
    {
        await page.GotoAsync($"login?returnUrl=/{returnUrl}");
        await ConsoleFixture.ProviderSignInAsync(page, user);
    }

    /// <summary>axe-core in the page: no serious or critical violation.</summary>
    private static async Task AssertAccessibleAsync(IPage page, string what)
    {
        if (!await page.EvaluateAsync<bool>("typeof axe !== 'undefined'"))
        {
            await page.AddScriptTagAsync(new() { Path = Path.Combine(Repository.Root, "tools", "axe", "node_modules", "axe-core", "axe.min.js") });
        }

        var violations = await page.EvaluateAsync<string[]>(
            """
            async () => (await axe.run(document, { resultTypes: ['violations'] })).violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join('; ')}`)
            """);
        Assert.True(violations.Length == 0, $"{what}: {string.Join("\n", violations)}");
    }

    /// <summary>No column squeezed below a readable width, and nothing wider than the window.</summary>
    private static async Task AssertColumnsReadableAsync(IPage page, string what)
    {
        var narrow = await page.EvaluateAsync<string[]>(
            "() => [...document.querySelectorAll('table th')].filter(th => th.offsetParent && th.getBoundingClientRect().width < 48).map(th => th.textContent)");
        Assert.True(narrow.Length == 0, $"{what}: columns too narrow to read: {string.Join(", ", narrow)}");
        var overflow = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - document.documentElement.clientWidth");
        Assert.True(overflow <= 0, $"{what}: {overflow} px wider than the window");
    }

    // One store per test class (the fixture), seeded once by whichever test comes first.
    private static readonly SemaphoreSlim Seeding = new(1, 1);
    private static Guid? _seeded;

    /// <summary>
    /// The provider and the four kinds of people (admins, auditors, reviewers, and developers with no role), a
    /// connection, and a recorded session of five HTTP exchanges with a denial (event 3) and masked values (event 5).
    /// </summary>
    private async Task<Guid> SeedAsync()
    {
        await Seeding.WaitAsync();
        try
        {
            if (_seeded is { } done && await fixture.Hoop.Services.GetRequiredService<ActivityQueries>().FindSessionAsync(done, default) is not null)
            {
                return done;
            }

            var services = fixture.Hoop.Services;
            await services.GetRequiredService<IssuerService>().SaveAsync(null, new IssuerInput("Test IdP", fixture.Provider.Authority, OidcProvider.Audience, "groups",
                ConsoleFixture.ConsoleClient, ConsoleFixture.ConsoleSecret, RequireHttpsMetadata: false), null, "test", default);
            await services.GetRequiredService<ConnectionService>().CreateAsync(new ConnectionInput("ledger", ConnectionKind.Http, fixture.Backend.Address.ToString(),
                TlsVerification.CaBundle, fixture.Ca.Pem, null, new CredentialInput(CredentialKind.Bearer, null, ConsoleFixture.Canary), true, null), "test", default);
            var groups = services.GetRequiredService<GroupService>();
            foreach (var (name, roles, connections) in new (string, string[], string[])[]
                     {
                         ("hoop-admins", ["admin"], []), ("hoop-auditors", ["auditor"], []), ("hoop-reviewers", ["reviewer"], []), ("developers", [], ["ledger"]),
                     })
            {
                await groups.SaveAsync(null, new GroupInput(name, roles, connections), null, "test", default);
            }

            var session = new Session
            {
                ConnectionName = "replayed", Subject = "replayed-agent", StartedAt = DateTime.UtcNow, Status = SessionStatus.Closed, Protocol = ConnectionKind.Http,
            };
            var recorder = services.GetRequiredService<Recorder>();
            recorder.Enqueue(session);
            for (var i = 1; i <= 5; i++)
            {
                var denied = i == 3;
                var exchange = new HttpExchangeRecord
                {
                    Request = new HttpRequestRecord("POST", "/ledger/orders", $"?n={i}", "HTTP/1.1", new Dictionary<string, string> { ["Content-Type"] = "application/json" },
                        new BodyRecord(14, false, $"{{\"order\":{i}}}", null)),
                    Response = new HttpResponseRecord(denied ? 403 : 201, new Dictionary<string, string> { ["Content-Type"] = "application/json" },
                        new BodyRecord(11, false, "{\"ok\":true}", null)),
                };
                recorder.Enqueue(new SessionEvent
                {
                    SessionId = session.Id, Sequence = i, At = session.StartedAt.AddMilliseconds(200 * i), Kind = denied ? "http-denied" : "http",
                    Marks = denied ? EventMarks.Denied : i == 5 ? EventMarks.Masked : EventMarks.None, Summary = $"POST /ledger/orders?n={i}",
                    Content = RecordJson.Write(exchange),
                });
            }

            await recorder.FlushAsync(default);
            _seeded = session.Id;
            return session.Id;
        }
        finally
        {
            Seeding.Release();
        }
    }

    private static string Shot(string name) => Path.Combine(ConsoleFixture.Screenshots, $"{name}.png");

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);

    private static IPageAssertions Expect(IPage page) => Assertions.Expect(page);
}
