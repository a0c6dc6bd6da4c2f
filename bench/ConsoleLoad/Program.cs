using System.Globalization;
using Microsoft.Playwright;

// Loads console pages in Debian's Chromium, each in turn on every target (interleaved, so both see the same
// machine), and prints the median of the rounds per page. A load is timed from the navigation to the last change of
// the page's content: the heading is there and nothing in the document has changed for half a second.
//   ConsoleLoad <rounds> <password> <name>=<console url>@<session id> [...] -- <path> [...]
// A path starting with "+" exists only on the first target (a page the older version did not have); "{session}" in a
// path is each target's own recorded session.
var dash = Array.IndexOf(args, "--");
var rounds = int.Parse(args[0], CultureInfo.InvariantCulture);
var password = args[1];
var targets = args[2..dash].Select(a => a.Split('=', 2)).Select(a => a[1].Split('@'))
    .Select((a, i) => (Name: args[2 + i].Split('=')[0], Url: a[0].TrimEnd('/') + "/", Session: a.Length > 1 ? a[1] : "")).ToList();
var paths = args[(dash + 1)..];

using var playwright = await Playwright.CreateAsync();
await using var browser = await playwright.Chromium.LaunchAsync(new()
{
    ExecutablePath = "/usr/bin/chromium",
    Headless = true,
    Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

var pages = new List<IPage>();
foreach (var (_, url, _) in targets)
{
    var context = await browser.NewContextAsync(new() { IgnoreHTTPSErrors = true, BaseURL = url, ViewportSize = new() { Width = 1280, Height = 800 } });
    context.SetDefaultTimeout(15_000);
    var page = await context.NewPageAsync();
    await page.GotoAsync("login");
    await page.Locator("details").EvaluateAsync("d => d.open = true");
    await page.FillAsync("#user", "admin");
    await page.FillAsync("#password", password);
    await page.ClickAsync("form[action='auth/login'] button[type=submit]");
    await page.Locator("h1", new() { HasText = "Dashboard" }).WaitForAsync();
    pages.Add(page);
}

const string Settled = """
    () => new Promise((resolve, reject) => {
        let last = performance.now();
        const observer = new MutationObserver(() => last = performance.now());
        observer.observe(document, { subtree: true, childList: true, characterData: true });
        const deadline = performance.now() + 15000;
        const check = () => {
            const heading = document.querySelector('h1');
            if (heading && heading.textContent.trim() && performance.now() - last > 500) { observer.disconnect(); resolve(last); }
            else if (performance.now() > deadline) { observer.disconnect(); reject(new Error('no heading, or the page kept changing')); }
            else setTimeout(check, 20);
        };
        check();
    })
    """;

var times = targets.ToDictionary(t => t.Name, _ => paths.ToDictionary(p => p, _ => new List<double>()));
for (var round = 0; round < rounds + 1; round++) // The first round warms each page up and is not counted.
{
    foreach (var path in paths)
    {
        for (var t = 0; t < targets.Count; t++)
        {
            if (path.StartsWith('+') && t > 0)
            {
                continue;
            }

            var page = pages[t];
            await page.GotoAsync(path.TrimStart('+', '/').Replace("{session}", targets[t].Session, StringComparison.Ordinal), new() { WaitUntil = WaitUntilState.Commit });
            // performance.now() counts from this document's navigation start: the last change, as the browser saw it.
            var settled = await page.EvaluateAsync<double>(Settled);
            if (round > 0)
            {
                times[targets[t].Name][path].Add(settled);
            }
        }
    }
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count == 0 ? double.NaN : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

Console.WriteLine($"| page | {string.Join(" | ", targets.Select(t => $"{t.Name} (ms)"))} |{(targets.Count > 1 ? $" {targets[0].Name} / {targets[1].Name} |" : "")}");
Console.WriteLine($"|---|{string.Concat(targets.Select(_ => "---:|"))}{(targets.Count > 1 ? "---:|" : "")}");
foreach (var path in paths)
{
    var medians = targets.Select(t => Median(times[t.Name][path])).ToList();
    var cells = medians.Select(m => double.IsNaN(m) ? "n/a" : m.ToString("0", CultureInfo.InvariantCulture));
    var ratio = targets.Count > 1 && !double.IsNaN(medians[1]) ? $" {(medians[0] / medians[1]).ToString("0.00", CultureInfo.InvariantCulture)} |" : targets.Count > 1 ? " |" : "";
    Console.WriteLine($"| /{path.TrimStart('+', '/')} | {string.Join(" | ", cells)} |{ratio}");
}
