using Microsoft.Playwright;

namespace Hoop.Tests.Support;

/// <summary>
/// Hoop with nothing configured, a real TLS backend, npm oidc-provider (people sign in at its login form; agents
/// get tokens by client credentials) and headless Chromium driven by Playwright. Screenshots go to
/// artifacts/screenshots at the repository root.
/// </summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    public const string ConsoleClient = "hoop-console";
    public const string ConsoleSecret = "console-client-secret-7d1e";
    public const string Canary = "canary-5b2e90d4-ledger-backend-token";

    public static readonly OidcProvider.Client LedgerAgent = new("ledger-agent", "ledger-agent-secret", ["ledger-agents"]);
    public static readonly OidcProvider.Client AuditorBot = new("auditor-bot", "auditor-bot-secret", ["hoop-auditors"]);
    public static readonly OidcProvider.Client RefundAgent = new("refund-agent", "refund-agent-secret", ["refund-agents"]);

    // Chromium as Debian ships it, offline: no sandbox (root in CI), no background traffic.
    private static readonly string[] ChromiumFlags =
    [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run",
    ];

    private readonly TempFolder _folder = new();
    private IPlaywright _playwright = null!;

    public TestCertificateAuthority Ca { get; } = new();
    public TestBackend Backend { get; private set; } = null!;
    public HoopTestHost Hoop { get; private set; } = null!;
    public OidcProvider Provider { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;

    public static string Screenshots => Path.Combine(Repository.Root, "artifacts", "screenshots");

    public async Task InitializeAsync()
    {
        Backend = await TestBackend.StartAsync(Ca.Issue(["localhost", "127.0.0.1"]));
        Hoop = await HoopTestHost.StartAsync(_folder.Path);
        var console = Hoop.ConsoleUrl.ToString().TrimEnd('/');
        Provider = await OidcProvider.StartAsync(
            new Dictionary<string, string[]> { ["alice"] = ["hoop-admins"], ["carol"] = ["hoop-auditors"], ["rita"] = ["hoop-reviewers"], ["dave"] = ["developers"] },
            new OidcProvider.Client(ConsoleClient, ConsoleSecret, [], [$"{console}/auth/oidc/callback"], [$"{console}/login?signedOut=1"]),
            LedgerAgent,
            AuditorBot,
            RefundAgent);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ChromiumFlags,
        });
        Directory.CreateDirectory(Screenshots);
    }

    /// <summary>A fresh browser profile (no cookies) that accepts Hoop's self-signed bootstrap certificate.</summary>
    public async Task<IPage> NewPageAsync(int width = 1400, int height = 900)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            IgnoreHTTPSErrors = true,
            BaseURL = Hoop.ConsoleUrl.ToString(),
            ViewportSize = new ViewportSize { Width = width, Height = height },
        });
        context.SetDefaultTimeout(15_000);
        return await context.NewPageAsync();
    }

    /// <summary>Signs in as the break-glass admin with its password (the form folds away once a provider is registered).</summary>
    public static async Task BreakGlassSignInAsync(IPage page)
    {
        await page.GotoAsync("login");
        await page.Locator("details").EvaluateAsync("d => d.open = true");
        await page.FillAsync("#user", "admin");
        await page.FillAsync("#password", HoopTestHost.AdminPassword);
        await page.ClickAsync("form[action='auth/login'] button[type=submit]");
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Dashboard");
    }

    /// <summary>From the sign-in page: "Sign in with ..." and the provider's forms, back to the dashboard.</summary>
    public static async Task ProviderSignInAsync(IPage page, string user)
    {
        await page.ClickAsync("[data-test=sign-in-with]");
        await CompleteProviderFormAsync(page, user);
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Dashboard");
    }

    /// <summary>oidc-provider's development login form (any password), then its consent form.</summary>
    public static async Task CompleteProviderFormAsync(IPage page, string user)
    {
        await page.FillAsync("input[name=login]", user);
        await page.FillAsync("input[name=password]", "any password");
        await page.ClickAsync("button[type=submit]");
        // The consent form, unless consent is remembered from an earlier sign-in: then Hoop's page comes at once.
        var consent = page.Locator("button[type=submit]", new() { HasText = "Continue" });
        await consent.Or(page.Locator("[data-test=user], [data-test=sign-in-error]")).First.WaitForAsync();
        if (await consent.IsVisibleAsync())
        {
            await consent.ClickAsync();
        }
    }

    /// <summary>Picks an item of a MudBlazor select (single or multiple), found by its label as a person would, and closes it.</summary>
    public static async Task ChooseAsync(IPage page, string label, string item)
    {
        var select = page.GetByRole(AriaRole.Combobox, new() { Name = label, Exact = true });
        await select.ClickAsync();
        await page.Locator(".mud-popover-open .mud-list-item", new() { HasText = item }).First.ClickAsync();
        // The choice is shown (a single select's text, a multiple one's value) once the server took the click; Escape
        // before then can reach a list about to re-render.
        await page.WaitForFunctionAsync("([e, item]) => (e.value || e.textContent).includes(item)", new object[] { await select.ElementHandleAsync(), item });
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(page.Locator(".mud-popover-open .mud-list-item")).ToHaveCountAsync(0);
    }

    public async Task DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright.Dispose();
        await Provider.DisposeAsync();
        await Hoop.DisposeAsync();
        await Backend.DisposeAsync();
        Ca.Dispose();
        _folder.Dispose();
    }
}
