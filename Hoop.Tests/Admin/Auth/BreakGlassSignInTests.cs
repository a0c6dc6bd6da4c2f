using System.Net;
using System.Text.RegularExpressions;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Admin.Auth;

public sealed partial class BreakGlassSignInTests : IDisposable
{
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task Dashboard_Anonymous_RedirectsToLogin()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        using var client = host.CreateClient(host.ConsoleUrl);

        var response = await client.GetAsync("/");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/login", response.Headers.Location!.AbsolutePath);
    }

    [Fact]
    public async Task SignIn_RightPassword_ReachesDashboardAndIsAudited()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        var cookies = new CookieContainer();
        using var client = host.CreateClient(host.ConsoleUrl, cookies: cookies);

        var response = await SignInAsync(client, "admin", HoopTestHost.AdminPassword, returnUrl: "/");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/", response.Headers.Location!.OriginalString);
        var dashboard = await client.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
        // The page itself renders in its live circuit (no prerendering); the browser tests look at it.
        Assert.Contains("_framework/blazor.web.js", await dashboard.Content.ReadAsStringAsync());
        var audit = await AuditAsync(host, "console.login");
        Assert.Equal(AuditOutcome.Success, Assert.Single(audit).Outcome);
    }

    [Fact]
    public async Task SignIn_WrongPassword_StaysOnLoginWithErrorAndIsAudited()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        var cookies = new CookieContainer();
        using var client = host.CreateClient(host.ConsoleUrl, cookies: cookies);

        var response = await SignInAsync(client, "admin", "wrong password", returnUrl: "/");

        Assert.StartsWith("/login?error=1", response.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/")).StatusCode);
        var entry = Assert.Single(await AuditAsync(host, "console.login"));
        Assert.Equal(AuditOutcome.Denied, entry.Outcome);
        Assert.DoesNotContain("wrong password", entry.Details);
    }

    [Fact]
    public async Task SignIn_ForeignReturnUrl_GoesToTheDashboardInstead()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        using var client = host.CreateClient(host.ConsoleUrl, cookies: new CookieContainer());

        var response = await SignInAsync(client, "admin", HoopTestHost.AdminPassword, returnUrl: "//evil.example/");

        Assert.Equal("/", response.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task SignIn_WithoutAntiforgeryToken_IsRefused()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        using var client = host.CreateClient(host.ConsoleUrl, cookies: new CookieContainer());

        var response = await client.PostAsync("/auth/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["UserName"] = "admin",
            ["Password"] = HoopTestHost.AdminPassword,
        }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Empty(await AuditAsync(host, "console.login"));
    }

    [Fact]
    public async Task FirstStart_WithoutPasswordVariable_PrintsGeneratedPasswordOnceAndItWorks()
    {
        string password;
        await using (var first = await HoopTestHost.StartAsync(_folder.Path, new Dictionary<string, string?> { ["HOOP_ADMIN_PASSWORD"] = null }))
        {
            // Created beside the rest of start-up, so the listeners do not wait for its password hash.
            await first.Services.GetRequiredService<Hoop.Admin.Auth.BreakGlassAdmin>().Ready;
            password = GeneratedPassword().Match(first.Notices.ToString()).Groups[1].Value;
            Assert.NotEmpty(password);
        }

        await using var second = await HoopTestHost.StartAsync(_folder.Path, new Dictionary<string, string?> { ["HOOP_ADMIN_PASSWORD"] = null });
        Assert.Empty(second.Notices.ToString());
        using var client = second.CreateClient(second.ConsoleUrl, cookies: new CookieContainer());
        var response = await SignInAsync(client, "admin", password, "/");
        Assert.Equal("/", response.Headers.Location!.OriginalString);
        await using var db = await second.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        Assert.DoesNotContain(password, (await db.LocalAdmins.SingleAsync()).PasswordHash);
        Assert.Equal(0, await db.LogEvents.CountAsync(e => e.Message.Contains(password)));
    }

    [Fact]
    public async Task PasswordChange_SignsOutEveryBreakGlassSession_AndNeedsTheCurrentPassword()
    {
        // While HOOP_ADMIN_PASSWORD is set, a change would be undone at the next start: refused.
        await using (var withVariable = await HoopTestHost.StartAsync(_folder.Path))
        {
            var refusedHere = await withVariable.Services.GetRequiredService<Hoop.Admin.Auth.BreakGlassAdmin>()
                .ChangePasswordAsync(HoopTestHost.AdminPassword, "a new and longer passphrase", "admin", default);
            Assert.Contains("HOOP_ADMIN_PASSWORD", Assert.Single(refusedHere.Errors!["newPassword"]));
        }

        await using var host = await HoopTestHost.StartAsync(_folder.Path, new Dictionary<string, string?> { ["HOOP_ADMIN_PASSWORD"] = null });
        using var first = host.CreateClient(host.ConsoleUrl, cookies: new CookieContainer());
        using var second = host.CreateClient(host.ConsoleUrl, cookies: new CookieContainer());
        await SignInAsync(first, "admin", HoopTestHost.AdminPassword, "/");
        await SignInAsync(second, "admin", HoopTestHost.AdminPassword, "/");
        Assert.Equal(HttpStatusCode.OK, (await first.GetAsync("/")).StatusCode);
        var admin = host.Services.GetRequiredService<Hoop.Admin.Auth.BreakGlassAdmin>();

        var refused = await admin.ChangePasswordAsync("not the password", "short", "admin", default);
        Assert.Equal(["currentPassword", "newPassword"], refused.Errors!.Keys.Order());
        Assert.Equal(HttpStatusCode.OK, (await first.GetAsync("/")).StatusCode);

        var changed = await admin.ChangePasswordAsync(HoopTestHost.AdminPassword, "a new and longer passphrase", "admin", default);

        Assert.Equal(Hoop.Admin.Management.ChangeStatus.Ok, changed.Status);
        Assert.Equal(HttpStatusCode.Redirect, (await first.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.Redirect, (await second.GetAsync("/")).StatusCode);
        Assert.Equal("/", (await SignInAsync(first, "admin", "a new and longer passphrase", "/")).Headers.Location!.OriginalString);
        var audit = await AuditAsync(host, "break-glass.password-change");
        Assert.Equal([AuditOutcome.Denied, AuditOutcome.Denied, AuditOutcome.Success], audit.Select(a => a.Outcome));
        Assert.DoesNotContain(audit, a => a.Details?.Contains("passphrase", StringComparison.Ordinal) == true);
    }

    internal static async Task<HttpResponseMessage> SignInAsync(HttpClient client, string user, string password, string returnUrl)
    {
        var page = await client.GetStringAsync("/login");
        var token = AntiforgeryToken().Match(page).Groups[1].Value;
        return await client.PostAsync("/auth/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["__RequestVerificationToken"] = token,
            ["UserName"] = user,
            ["Password"] = password,
            ["ReturnUrl"] = returnUrl,
        }));
    }

    private static async Task<List<AuditEvent>> AuditAsync(HoopTestHost host, string action)
    {
        await using var db = await host.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        return await db.AuditEvents.Where(a => a.Action == action).OrderBy(a => a.Id).ToListAsync();
    }

    [GeneratedRegex("""name="__RequestVerificationToken" value="([^"]+)" """)]
    private static partial Regex AntiforgeryToken();

    [GeneratedRegex(@"password:\s+(\S+)")]
    private static partial Regex GeneratedPassword();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }
}
