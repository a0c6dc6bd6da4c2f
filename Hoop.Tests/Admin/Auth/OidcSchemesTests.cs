using System.Net;
using System.Web;
using Hoop.Admin.Management;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Policy;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Hoop.Tests.Admin.Auth;

/// <summary>
/// Identity providers added, changed and removed in the console take effect for sign-in at once, without a restart:
/// against npm oidc-provider in headless Chromium, and against a provider behind a private CA.
/// </summary>
[Collection(Timing.Name)]
public sealed class OidcSchemesTests(ConsoleFixture fixture) : IClassFixture<ConsoleFixture>
{
    [Fact]
    public async Task Provider_AddedWithAWrongSecret_ThenCorrected_ThenRemoved_EachCountsAtTheNextSignIn()
    {
        var issuers = fixture.Hoop.Services.GetRequiredService<IssuerService>();
        var authority = fixture.Provider.Authority;
        var signIn = $"auth/oidc?issuer={Uri.EscapeDataString(authority)}";
        var page = await fixture.NewPageAsync();

        // Not registered yet.
        await page.GotoAsync(signIn);
        await Expect(page.Locator("[data-test=sign-in-error]")).ToContainTextAsync("not registered");

        // Added, with a secret the provider does not know: the code is not redeemed, and the sign-in page says so.
        var saved = await issuers.SaveAsync(null, new IssuerInput("Changing IdP", authority, OidcProvider.Audience, "groups",
            ConsoleFixture.ConsoleClient, "not-the-secret", RequireHttpsMetadata: false), null, "test", default);
        Assert.Equal(ChangeStatus.Created, saved.Status);
        await RefreshAsync();
        await page.GotoAsync(signIn);
        await ConsoleFixture.CompleteProviderFormAsync(page, "alice");
        await Expect(page.Locator("[data-test=sign-in-error]")).ToContainTextAsync("could not be verified");
        await using (var db = await Contexts.CreateDbContextAsync())
        {
            Assert.True(await db.AuditEvents.AnyAsync(a => a.Action == "console.login" && a.Outcome == AuditOutcome.Denied
                && a.Target == authority && a.Details!.Contains("invalid_client")));
        }

        // The secret corrected: the next sign-in works (in a fresh browser, so the provider asks for the login again).
        Assert.Equal(ChangeStatus.Ok, (await issuers.SaveAsync(saved.Value!.Id, new IssuerInput(null, null, null, null, null,
            ConsoleFixture.ConsoleSecret, null), null, "test", default)).Status);
        await RefreshAsync();
        page = await fixture.NewPageAsync();
        await page.GotoAsync(signIn);
        await ConsoleFixture.CompleteProviderFormAsync(page, "alice");
        await Expect(page.Locator("[data-test=user]")).ToHaveTextAsync("alice");

        // Removed: alice's session ends at her next page, and nobody can start a sign-in with it.
        Assert.Equal(ChangeStatus.Ok, (await issuers.DeleteAsync(saved.Value.Id!.Value, null, "test", default)).Status);
        await RefreshAsync();
        await page.GotoAsync("audit");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Sign in to Hoop");
        await Expect(page.Locator("[data-test=sign-in-with]")).ToHaveCountAsync(0);
        await page.GotoAsync(signIn);
        await Expect(page.Locator("[data-test=sign-in-error]")).ToContainTextAsync("not registered");
    }

    [Fact]
    public async Task PrivateCaProvider_ClientAndCaBundleChanged_TheNextSignInUsesTheNewSettings()
    {
        using var ca = new TestCertificateAuthority("Private IdP CA");
        using var otherCa = new TestCertificateAuthority("Another CA");
        await using var provider = await TestIssuer.StartAsync(ca.Issue(["localhost", "127.0.0.1"]));
        var issuers = fixture.Hoop.Services.GetRequiredService<IssuerService>();
        var saved = await issuers.SaveAsync(null, new IssuerInput("Private IdP", provider.Authority, TestIssuer.Audience, null,
            "console-one", "secret", null, ca.Pem), null, "test", default);
        Assert.Equal(ChangeStatus.Created, saved.Status);
        await RefreshAsync();
        using var browser = fixture.Hoop.CreateClient(fixture.Hoop.ConsoleUrl, cookies: new CookieContainer());
        var signIn = $"/auth/oidc?issuer={Uri.EscapeDataString(provider.Authority)}";

        // Discovery over TLS trusted through the issuer's CA bundle: off to the provider's authorization endpoint.
        var first = await browser.GetAsync(signIn);
        Assert.Equal($"{provider.Authority}/authorize", first.Headers.Location!.GetLeftPart(UriPartial.Path));
        Assert.Equal("console-one", HttpUtility.ParseQueryString(first.Headers.Location.Query)["client_id"]);

        // Another client id: the next sign-in uses it.
        await issuers.SaveAsync(saved.Value!.Id, new IssuerInput(null, null, null, null, "console-two", null, null), null, "test", default);
        await RefreshAsync();
        var second = await browser.GetAsync(signIn);
        Assert.Equal("console-two", HttpUtility.ParseQueryString(second.Headers.Location!.Query)["client_id"]);

        // A bundle that does not issue the provider's certificate (as stored data would be; the save's check refuses
        // it): discovery is read again with the new trust, fails, and the sign-in page says the provider is unreachable.
        await using (var db = await Contexts.CreateDbContextAsync())
        {
            var stored = await db.IdentityIssuers.SingleAsync(i => i.Authority == provider.Authority);
            stored.CaBundlePem = otherCa.Pem;
            await db.SaveChangesAsync();
        }

        await RefreshAsync();
        Assert.Equal("/login?error=provider", (await browser.GetAsync(signIn)).Headers.Location!.OriginalString);

        // The right bundle again: signing in works again.
        await issuers.SaveAsync(saved.Value.Id, new IssuerInput(null, null, null, null, null, null, null, ca.Pem), null, "test", default);
        await RefreshAsync();
        Assert.StartsWith(provider.Authority, (await browser.GetAsync(signIn)).Headers.Location!.ToString());
        await issuers.DeleteAsync(saved.Value.Id!.Value, null, "test", default);
    }

    private IDbContextFactory<HoopDbContext> Contexts => fixture.Hoop.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>();

    private Task RefreshAsync() => fixture.Hoop.Services.GetRequiredService<PolicyStore>().RefreshAsync(default);

    private static ILocatorAssertions Expect(ILocator locator) => Assertions.Expect(locator);
}
