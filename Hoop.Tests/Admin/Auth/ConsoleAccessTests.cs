using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Web;
using Hoop.Admin.Management;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Policy;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Admin.Auth;

/// <summary>Who reaches what on the console port, at the HTTP level, with a real identity provider registered.</summary>
public sealed class ConsoleAccessTests : IAsyncLifetime
{
    private static readonly string[] Pages = ["/", "/connections", "/groups", "/api-keys", "/sessions", "/audit", "/logs", "/settings", "/not-allowed"];

    private readonly TempFolder _folder = new();
    private HoopTestHost _hoop = null!;
    private OidcProvider _provider = null!;

    public async Task InitializeAsync()
    {
        _hoop = await HoopTestHost.StartAsync(_folder.Path);
        _provider = await OidcProvider.StartAsync(new Dictionary<string, string[]>(),
            new OidcProvider.Client("hoop-console", "secret", [], [$"{_hoop.ConsoleUrl}auth/oidc/callback"]));
        var saved = await _hoop.Services.GetRequiredService<IssuerService>().SaveAsync(null,
            new IssuerInput("Test IdP", _provider.Authority, OidcProvider.Audience, null, "hoop-console", "secret", RequireHttpsMetadata: false),
            null, "test", default);
        Assert.Equal(ChangeStatus.Created, saved.Status);
    }

    [Fact]
    public async Task Anonymous_EveryPageRedirectsToSignIn_AndTheApiIs401()
    {
        using var client = _hoop.CreateClient(_hoop.ConsoleUrl);
        foreach (var page in Pages)
        {
            var response = await client.GetAsync(page);
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.Equal("/login", response.Headers.Location!.AbsolutePath);
        }

        // What the sign-in page itself needs is public.
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/login")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/_framework/blazor.web.js")).StatusCode);

        foreach (var api in new[] { "/api/v1/sessions", "/api/v1/audit", "/api/v1/settings/recording", "/api/v1/connections", "/api/v1/groups", "/api/v1/api-keys", "/api/v1/issuers" })
        {
            var response = await client.GetAsync(api);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task SignInStart_RedirectsToTheProviderWithPkceStateAndNonce()
    {
        using var client = _hoop.CreateClient(_hoop.ConsoleUrl, cookies: new CookieContainer());

        var response = await client.GetAsync($"/auth/oidc?issuer={Uri.EscapeDataString(_provider.Authority)}&returnUrl=/audit");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var location = response.Headers.Location!;
        Assert.StartsWith(_provider.Authority, location.ToString());
        var query = HttpUtility.ParseQueryString(location.Query);
        Assert.Equal("code", query["response_type"]);
        Assert.Equal("S256", query["code_challenge_method"]);
        Assert.False(string.IsNullOrEmpty(query["code_challenge"]));
        Assert.False(string.IsNullOrEmpty(query["nonce"]));
        Assert.False(string.IsNullOrEmpty(query["state"]));
        Assert.Equal($"{_hoop.ConsoleUrl}auth/oidc/callback", query["redirect_uri"]);
    }

    [Fact]
    public async Task TamperedState_IsRefusedOnTheSignInPageAndAudited()
    {
        var cookies = new CookieContainer();
        using var client = _hoop.CreateClient(_hoop.ConsoleUrl, cookies: cookies);
        var start = await client.GetAsync($"/auth/oidc?issuer={Uri.EscapeDataString(_provider.Authority)}");
        var state = HttpUtility.ParseQueryString(start.Headers.Location!.Query)["state"]!;
        var tampered = state[..^4] + (state[^4] == 'A' ? 'B' : 'A') + state[^3..];

        var callback = await client.GetAsync($"/auth/oidc/callback?code=anything&state={Uri.EscapeDataString(tampered)}");

        Assert.Equal(HttpStatusCode.Redirect, callback.StatusCode);
        Assert.Equal("/login?error=state", callback.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.Redirect, (await client.GetAsync("/")).StatusCode);
        await using var db = await _hoop.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        var denied = await db.AuditEvents.Where(a => a.Action == "console.login" && a.Outcome == AuditOutcome.Denied).ToListAsync();
        Assert.Contains(denied, a => a.Details!.Contains("state", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CallbackWithoutTheBrowsersCorrelationCookie_IsRefused()
    {
        using var starter = _hoop.CreateClient(_hoop.ConsoleUrl, cookies: new CookieContainer());
        var start = await starter.GetAsync($"/auth/oidc?issuer={Uri.EscapeDataString(_provider.Authority)}");
        var state = HttpUtility.ParseQueryString(start.Headers.Location!.Query)["state"]!;

        // Another browser (a victim lured to the callback) presents a genuine state it did not start.
        using var other = _hoop.CreateClient(_hoop.ConsoleUrl, cookies: new CookieContainer());
        var callback = await other.GetAsync($"/auth/oidc/callback?code=anything&state={Uri.EscapeDataString(state)}");

        Assert.Equal("/login?error=state", callback.Headers.Location!.OriginalString);
        var denied = Assert.Single(await DeniedSignInsAsync());
        Assert.Contains("correlation cookie", denied.Details, StringComparison.Ordinal);
        Assert.Equal(_provider.Authority, denied.Target);
    }

    [Fact]
    public async Task SignInStart_CorrelationAndNonceCookies_AreSecureHttpOnlyAndCrossSite()
    {
        using var client = _hoop.CreateClient(_hoop.ConsoleUrl);

        var start = await client.GetAsync($"/auth/oidc?issuer={Uri.EscapeDataString(_provider.Authority)}");

        // SameSite=None: the provider's redirect back is a cross-site navigation; Secure and HttpOnly keep them to this site's pages.
        var cookies = start.Headers.GetValues("Set-Cookie").ToList();
        Assert.Contains(cookies, c => c.StartsWith(".AspNetCore.Correlation.", StringComparison.Ordinal));
        Assert.Contains(cookies, c => c.StartsWith(".AspNetCore.OpenIdConnect.Nonce.", StringComparison.Ordinal));
        Assert.All(cookies, c =>
        {
            var attributes = c.Split(';', StringSplitOptions.TrimEntries).Skip(1).Select(a => a.ToLowerInvariant()).ToList();
            Assert.Contains("secure", attributes);
            Assert.Contains("httponly", attributes);
            Assert.Contains("samesite=none", attributes);
        });
    }

    [Fact]
    public async Task ForgedCallbacks_AreAuditedAtMostOnceAMinute()
    {
        using var client = _hoop.CreateClient(_hoop.ConsoleUrl);

        foreach (var state in new[] { "forged-1", "forged-2", "" })
        {
            var callback = await client.GetAsync($"/auth/oidc/callback?code=anything&state={state}");
            Assert.Equal("/login?error=state", callback.Headers.Location!.OriginalString);
        }

        var denied = Assert.Single(await DeniedSignInsAsync());
        Assert.Contains("state parameter", denied.Details, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CallbackAfterItsProviderWasRemoved_IsRefusedNamingTheProvider()
    {
        using var client = _hoop.CreateClient(_hoop.ConsoleUrl, cookies: new CookieContainer());
        var start = await client.GetAsync($"/auth/oidc?issuer={Uri.EscapeDataString(_provider.Authority)}");
        var state = HttpUtility.ParseQueryString(start.Headers.Location!.Query)["state"]!;
        var issuers = _hoop.Services.GetRequiredService<IssuerService>();
        var registered = (await issuers.ListAsync(default)).Single(i => i.Authority == _provider.Authority);
        Assert.Equal(ChangeStatus.Ok, (await issuers.DeleteAsync(registered.Id!.Value, null, "test", default)).Status);
        await _hoop.Services.GetRequiredService<PolicyStore>().RefreshAsync(default);

        var callback = await client.GetAsync($"/auth/oidc/callback?code=anything&state={Uri.EscapeDataString(state)}");

        Assert.Equal("/login?error=issuer", callback.Headers.Location!.OriginalString);
        var denied = Assert.Single(await DeniedSignInsAsync());
        Assert.Equal(_provider.Authority, denied.Target);
        Assert.Contains("no longer registered", denied.Details, StringComparison.Ordinal);
    }

    private async Task<List<AuditEvent>> DeniedSignInsAsync()
    {
        await using var db = await _hoop.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        return await db.AuditEvents.Where(a => a.Action == "console.login" && a.Outcome == AuditOutcome.Denied).ToListAsync();
    }

    [Fact]
    public async Task CrossSitePost_WithoutAntiforgeryToken_IsRefused()
    {
        using var client = _hoop.CreateClient(_hoop.ConsoleUrl, cookies: new CookieContainer());
        await BreakGlassSignInTests.SignInAsync(client, "admin", HoopTestHost.AdminPassword, "/");

        // What another site's form would send: the browser adds the cookie, but the site cannot know the token.
        var response = await client.PostAsync("/auth/logout", new FormUrlEncodedContent(new Dictionary<string, string>()));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/")).StatusCode);
    }

    [Fact]
    public async Task ConsoleAndSignInRoutes_AreNotOnTheProxyPort()
    {
        using var client = _hoop.CreateClient(_hoop.ProxyUrl);
        foreach (var path in Pages.Append("/login").Append("/auth/oidc").Append("/api/v1/openapi.json"))
        {
            // The proxy port asks an anonymous caller for an agent's credential, whatever the path.
            Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync(path)).StatusCode);
        }
    }

    [Fact]
    public async Task OpenApiDocument_DescribesTheAdminApi()
    {
        using var client = _hoop.CreateClient(_hoop.ConsoleUrl);

        var document = await client.GetFromJsonAsync<JsonElement>("/api/v1/openapi.json");

        var paths = document.GetProperty("paths");
        foreach (var path in new[] { "/api/v1/connections", "/api/v1/connections/{name}", "/api/v1/groups", "/api/v1/api-keys", "/api/v1/issuers" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"{path} is missing from the OpenAPI document");
        }

        Assert.False(paths.TryGetProperty("/connections", out _));
    }

    public async Task DisposeAsync()
    {
        await _provider.DisposeAsync();
        await _hoop.DisposeAsync();
        _folder.Dispose();
    }
}
