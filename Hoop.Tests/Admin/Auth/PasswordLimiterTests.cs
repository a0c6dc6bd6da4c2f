using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Hoop.Admin.Auth;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Recording;
using Hoop.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Admin.Auth;

/// <summary>
/// Every check of the break-glass password (Basic on the admin API, the console's sign-in form, the password change)
/// goes through one limiter: one check at a time per source, a back-off per source that grows with its wrong
/// passwords, 429 with Retry-After meanwhile, and the right password from any other source checked at once.
/// </summary>
public sealed class PasswordLimiterTests : IDisposable
{
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task BasicGuesses_FortyAtOnceFromOneAddress_MostGet429_RightPasswordFromAnotherAddressWorksAtOnce()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        using var guesser = Client(host, "127.0.0.2", "admin:guess");

        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => guesser.GetAsync("/api/v1/connections")));

        // Five wrong passwords are free, the sixth starts the back-off; the checks waiting behind it are then refused.
        var checkedAndWrong = answers.Count(a => a.StatusCode == HttpStatusCode.Unauthorized);
        var throttled = answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.InRange(checkedAndWrong, 1, 6);
        Assert.Equal(40, checkedAndWrong + throttled.Count);
        Assert.All(throttled, a => Assert.True(a.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1)));
        Assert.Equal("application/problem+json", throttled[0].Content.Headers.ContentType?.MediaType);

        // The right password from this address waits its turn too; from any other it works at once.
        using var sameAddress = Client(host, "127.0.0.2", $"admin:{HoopTestHost.AdminPassword}");
        Assert.Equal(HttpStatusCode.TooManyRequests, (await sameAddress.GetAsync("/api/v1/connections")).StatusCode);
        using var admin = host.CreateAdminClient();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/v1/connections")).StatusCode);

        // Each wrong password checked is audited, and the refusals, throttled, with their count.
        await host.Services.GetRequiredService<Recorder>().FlushAsync(CancellationToken.None);
        await using var db = await host.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        Assert.Equal(checkedAndWrong, await db.AuditEvents.CountAsync(a => a.Action == "api.break-glass" && a.Outcome == AuditOutcome.Denied));
        var refusal = await db.AuditEvents.FirstAsync(a => a.Action == "break-glass.throttled");
        Assert.Equal("127.0.0.2", refusal.Target);
        Assert.Contains("\"refused\":", refusal.Details);
        Assert.DoesNotContain("guess", refusal.Details);
    }

    [Fact]
    public async Task SignInForm_WrongPasswordsFromOneAddress_BackOffWith429_AndBasicFromThatAddressToo()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        using var browser = Client(host, "127.0.0.2", credentials: null, new CookieContainer());
        for (var i = 0; i < 6; i++)
        {
            var wrong = await BreakGlassSignInTests.SignInAsync(browser, "admin", $"guess {i}", "/");
            Assert.StartsWith("/login?error=1", wrong.Headers.Location!.OriginalString);
        }

        var refused = await BreakGlassSignInTests.SignInAsync(browser, "admin", HoopTestHost.AdminPassword, "/");

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter?.Delta);
        Assert.Contains("Too many sign-in attempts", await refused.Content.ReadAsStringAsync());
        using var api = Client(host, "127.0.0.2", $"admin:{HoopTestHost.AdminPassword}");
        Assert.Equal(HttpStatusCode.TooManyRequests, (await api.GetAsync("/api/v1/connections")).StatusCode);
        using var elsewhere = host.CreateClient(host.ConsoleUrl, cookies: new CookieContainer());
        Assert.Equal("/", (await BreakGlassSignInTests.SignInAsync(elsewhere, "admin", HoopTestHost.AdminPassword, "/")).Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task RightPasswords_TwentyAtOnceFromOneAddress_AllPass()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        using var script = Client(host, "127.0.0.2", $"admin:{HoopTestHost.AdminPassword}");

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => script.GetAsync("/api/v1/connections")));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
    }

    [Fact]
    public async Task CheckAsync_BackOffDoublesFromOneSecond_UpToTheMaximum_AndTheRightPasswordEndsIt()
    {
        var clock = new ManualTimeProvider();
        await using var host = await HoopTestHost.StartAsync(_folder.Path, services: s => s.AddSingleton<TimeProvider>(clock));
        var limiter = host.Services.GetRequiredService<PasswordLimiter>();
        Task<PasswordVerdict> Try(string source, bool right) => limiter.CheckAsync(source, () => false, () => right, CancellationToken.None);

        for (var i = 0; i < 6; i++)
        {
            Assert.Equal(PasswordOutcome.Refused, (await Try("192.0.2.1", right: false)).Outcome);
        }

        var first = await Try("192.0.2.1", right: true);
        Assert.Equal(PasswordOutcome.Throttled, first.Outcome);
        Assert.Equal(1, first.RetryAfterSeconds);
        Assert.Equal(PasswordOutcome.Accepted, (await Try("192.0.2.2", right: true)).Outcome);

        clock.Advance(TimeSpan.FromSeconds(1.1));
        Assert.Equal(PasswordOutcome.Refused, (await Try("192.0.2.1", right: false)).Outcome);
        Assert.Equal(2, (await Try("192.0.2.1", right: false)).RetryAfterSeconds);
        for (var i = 0; i < 12; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(301));
            Assert.Equal(PasswordOutcome.Refused, (await Try("192.0.2.1", right: false)).Outcome);
        }

        Assert.Equal(300, (await Try("192.0.2.1", right: false)).RetryAfterSeconds);

        clock.Advance(TimeSpan.FromSeconds(301));
        Assert.Equal(PasswordOutcome.Accepted, (await Try("192.0.2.1", right: true)).Outcome);
        Assert.Equal(PasswordOutcome.Refused, (await Try("192.0.2.1", right: false)).Outcome);
        Assert.Equal(PasswordOutcome.Refused, (await Try("192.0.2.1", right: false)).Outcome);
    }

    [Fact]
    public async Task SourceAddress_IPv6_CountsTheWhole64AsOneSource()
    {
        Assert.Equal("2001:db8:1:2::/64", Hoop.Proxy.Limits.SourceAddress.Of(IPAddress.Parse("2001:db8:1:2:aaaa:bbbb:cccc:dddd")));
        Assert.Equal("192.0.2.7", Hoop.Proxy.Limits.SourceAddress.Of(IPAddress.Parse("::ffff:192.0.2.7")));
        await Task.CompletedTask;
    }

    /// <summary>A client from <paramref name="from"/> on the console port, with Basic <paramref name="credentials"/> when given.</summary>
    private static HttpClient Client(HoopTestHost host, string from, string? credentials, CookieContainer? cookies = null)
    {
        var client = LoopbackSource.HttpClient(from, host.ConsolePort, host.ConsoleUrl, HoopTestHost.TrustOnly(host.Certificate), cookies);
        if (credentials is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
        }

        return client;
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }
}
