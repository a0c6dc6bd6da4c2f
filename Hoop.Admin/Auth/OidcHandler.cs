using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Policy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Admin.Auth;

public sealed class OidcOptions : RemoteAuthenticationOptions
{
    public OidcOptions()
    {
        CallbackPath = "/auth/oidc/callback";
        SignInScheme = CookieAuthenticationDefaults.AuthenticationScheme;
    }

    /// <summary>Protects the round-tripped state (issuer, PKCE verifier, nonce, return URL); set from Data Protection.</summary>
    public ISecureDataFormat<AuthenticationProperties> StateDataFormat { get; set; } = default!;
}

/// <summary>
/// Console sign-in with an OIDC provider: authorization code with PKCE (S256), <c>state</c> protected with
/// Data Protection and bound to the browser by a correlation cookie, the ID token validated (issuer, audience,
/// lifetime, signature, <c>nonce</c>). Shaped like ASP.NET Core's own OpenIdConnectHandler, on IdentityModel.
/// The issuer is chosen per sign-in (<see cref="IssuerKey"/>), from the current policy: appsettings.json and the store.
/// </summary>
public sealed partial class OidcHandler(
    IOptionsMonitor<OidcOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    PolicyStore policy,
    IssuerMetadata metadata,
    IssuerHttp issuerHttp,
    AuditLog audit,
    OidcHandler.StateAuditThrottle throttle,
    TimeProvider time) : RemoteAuthenticationHandler<OidcOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "oidc";
    public const string IssuerKey = "hoop.issuer";
    public const string GroupClaim = "hoop:group";
    public const string IssuerClaim = "hoop:issuer";
    public const string SignedInClaim = "hoop:signed-in";

    /// <summary>However active, a console session signs in at its provider again after this long.</summary>
    public static readonly TimeSpan MaximumSession = TimeSpan.FromHours(12);

    /// <summary>
    /// Whether an OIDC console session may go on: its provider is still registered for sign-in, and it is not older
    /// than <see cref="MaximumSession"/> (so a person disabled at the provider is out within that time).
    /// </summary>
    public static bool StillValid(ClaimsPrincipal user, PolicySnapshot policy, DateTimeOffset now) =>
        user.FindFirstValue(IssuerClaim) is { } authority
        && policy.Issuers.TryGetValue(authority, out var issuer) && issuer.AllowsConsoleSignIn
        && long.TryParse(user.FindFirstValue(SignedInClaim), System.Globalization.CultureInfo.InvariantCulture, out var ticks)
        && now.UtcTicks - ticks < MaximumSession.Ticks;

    private const string VerifierKey = "hoop.code_verifier";
    private const string NonceKey = "hoop.nonce";

    private readonly JsonWebTokenHandler _tokens = new() { MapInboundClaims = false };

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (properties.GetString(IssuerKey) is not { } authority
            || !policy.Current.Issuers.TryGetValue(authority, out var issuer) || !issuer.AllowsConsoleSignIn)
        {
            Response.Redirect("/login?error=issuer");
            return;
        }

        OpenIdConnectConfiguration configuration;
        try
        {
            configuration = await metadata.GetAsync(issuer, refresh: false, Context.RequestAborted);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or TaskCanceledException)
        {
            LogProviderUnreachable(Logger, issuer.Authority, e.Message);
            Response.Redirect("/login?error=provider");
            return;
        }

        if (!AuthSetup.IsLocal(properties.RedirectUri))
        {
            properties.RedirectUri = "/";
        }

        var verifier = Random();
        var nonce = Random();
        properties.Items[VerifierKey] = verifier;
        properties.Items[NonceKey] = nonce;
        GenerateCorrelationId(properties);

        var scopes = configuration.ScopesSupported.Contains("groups") ? "openid profile email groups" : "openid profile email";
        var query = new Dictionary<string, string?>
        {
            ["response_type"] = "code",
            ["client_id"] = issuer.ClientId,
            ["redirect_uri"] = BuildRedirectUri(Options.CallbackPath),
            ["scope"] = scopes,
            ["state"] = Options.StateDataFormat.Protect(properties),
            ["nonce"] = nonce,
            ["code_challenge"] = Base64UrlEncoder.Encode(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(verifier))),
            ["code_challenge_method"] = "S256",
        };
        Response.Redirect(QueryHelpers.AddQueryString(configuration.AuthorizationEndpoint, query));
    }

    protected override async Task<HandleRequestResult> HandleRemoteAuthenticateAsync()
    {
        var query = Request.Query;
        var properties = Options.StateDataFormat.Unprotect(query["state"]);
        if (properties is null)
        {
            return await FailAsync("state", "the state parameter is missing or was altered", null);
        }

        if (!ValidateCorrelationId(properties))
        {
            return await FailAsync("state", "the sign-in did not start in this browser", properties);
        }

        if (!string.IsNullOrEmpty(query["error"]))
        {
            return await FailAsync("refused", $"the provider answered '{Short(query["error"])}'", properties);
        }

        if (properties.GetString(IssuerKey) is not { } authority || !policy.Current.Issuers.TryGetValue(authority, out var issuer))
        {
            return await FailAsync("issuer", "the provider is no longer registered", properties);
        }

        if (string.IsNullOrEmpty(query["code"]))
        {
            return await FailAsync("refused", "the provider sent no authorization code", properties);
        }

        try
        {
            var configuration = await metadata.GetAsync(issuer, refresh: false, Context.RequestAborted);
            var (idToken, accessToken) = await RedeemAsync(issuer, configuration, query["code"]!, properties.Items[VerifierKey]!);
            var jwt = await ValidateIdTokenAsync(issuer, configuration, idToken);
            if (!jwt.TryGetPayloadValue<string>("nonce", out var nonce) || nonce != properties.Items[NonceKey])
            {
                return await FailAsync("token", "the ID token's nonce does not match this sign-in", properties);
            }

            var groups = jwt.TryGetPayloadValue<object>(issuer.GroupsClaim, out _)
                ? TokenValidator.GroupsOf(jwt, issuer.GroupsClaim)
                : await UserInfoGroupsAsync(issuer, configuration, accessToken, jwt.Subject);

            properties.Items.Remove(VerifierKey);
            properties.Items.Remove(NonceKey);
            properties.StoreTokens([new AuthenticationToken { Name = "id_token", Value = idToken }]);
            var principal = Principal(issuer, jwt, groups);
            var roles = policy.Current.RolesOf(groups, issuer.Authority);
            await audit.WriteAsync(principal.Identity!.Name!, "console.login", issuer.Authority, AuditOutcome.Success,
                new { method = "oidc", groups, roles = roles.ToString() }, Context.RequestAborted);
            return HandleRequestResult.Success(new AuthenticationTicket(principal, properties, Scheme.Name));
        }
        catch (OidcException e)
        {
            return await FailAsync(e.Code, e.Message, properties);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or TaskCanceledException or JsonException)
        {
            LogProviderUnreachable(Logger, issuer.Authority, e.Message);
            return await FailAsync("provider", "the provider could not be reached or answered nonsense", properties);
        }
    }

    private async Task<(string IdToken, string? AccessToken)> RedeemAsync(IssuerOptions issuer, OpenIdConnectConfiguration configuration, string code, string verifier)
    {
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["code"] = code,
            ["redirect_uri"] = BuildRedirectUri(Options.CallbackPath),
            ["code_verifier"] = verifier,
            ["client_id"] = issuer.ClientId!,
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, configuration.TokenEndpoint);
        if (issuer.ClientSecret is { } secret)
        {
            // client_secret_basic (the default every provider supports) unless the provider only takes the form.
            if (configuration.TokenEndpointAuthMethodsSupported.Count == 0 || configuration.TokenEndpointAuthMethodsSupported.Contains("client_secret_basic"))
            {
                var pair = $"{Uri.EscapeDataString(issuer.ClientId!)}:{Uri.EscapeDataString(secret)}";
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(pair)));
            }
            else
            {
                form["client_secret"] = secret;
            }
        }

        request.Content = new FormUrlEncodedContent(form);
        using var response = await issuerHttp.SendAsync(issuer, request, Context.RequestAborted);
        using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(Context.RequestAborted), cancellationToken: Context.RequestAborted);
        if (!response.IsSuccessStatusCode)
        {
            var error = body.RootElement.TryGetProperty("error", out var e) ? e.GetString() : ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture);
            throw new OidcException("token", $"the provider would not redeem the code ('{Short(error)}')");
        }

        return body.RootElement.TryGetProperty("id_token", out var id) && id.GetString() is { } idToken
            ? (idToken, body.RootElement.TryGetProperty("access_token", out var access) ? access.GetString() : null)
            : throw new OidcException("token", "the provider's token response has no ID token");
    }

    private async Task<JsonWebToken> ValidateIdTokenAsync(IssuerOptions issuer, OpenIdConnectConfiguration configuration, string idToken)
    {
        var result = await metadata.ValidateAsync(issuer, configuration, c => _tokens.ValidateTokenAsync(idToken, Parameters(issuer, c)), Context.RequestAborted);

        return result.IsValid
            ? (JsonWebToken)result.SecurityToken
            : throw new OidcException("token", $"the ID token is not valid ({result.Exception?.GetType().Name})");
    }

    private TokenValidationParameters Parameters(IssuerOptions issuer, OpenIdConnectConfiguration configuration) =>
        TokenValidator.Parameters(issuer.Authority, issuer.ClientId!, configuration, time);

    /// <summary>Providers that leave groups out of the ID token (most, by default) give them at the userinfo endpoint.</summary>
    private async Task<List<string>> UserInfoGroupsAsync(IssuerOptions issuer, OpenIdConnectConfiguration configuration, string? accessToken, string subject)
    {
        if (string.IsNullOrEmpty(configuration.UserInfoEndpoint) || accessToken is null)
        {
            return [];
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, configuration.UserInfoEndpoint);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        using var response = await issuerHttp.SendAsync(issuer, request, Context.RequestAborted);
        if (!response.IsSuccessStatusCode)
        {
            return [];
        }

        using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(Context.RequestAborted), cancellationToken: Context.RequestAborted);
        // OIDC Core 5.3.4: a userinfo answer about anyone else is ignored.
        if (!body.RootElement.TryGetProperty("sub", out var sub) || sub.GetString() != subject)
        {
            throw new OidcException("token", "the provider's userinfo is about another subject");
        }

        return body.RootElement.TryGetProperty(issuer.GroupsClaim, out var groups) ? TokenValidator.GroupsOf(groups) : [];
    }

    private ClaimsPrincipal Principal(IssuerOptions issuer, JsonWebToken jwt, List<string> groups)
    {
        string? Claim(string type) => jwt.TryGetPayloadValue<string>(type, out var value) && !string.IsNullOrWhiteSpace(value) ? value : null;
        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, jwt.Subject),
            new(ClaimTypes.Name, Claim("preferred_username") ?? Claim("email") ?? Claim("name") ?? jwt.Subject),
            new(AuthSetup.AuthMethodClaim, SchemeName),
            new(IssuerClaim, issuer.Authority),
            new(SignedInClaim, time.GetUtcNow().UtcTicks.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        };
        claims.AddRange(groups.Select(g => new Claim(GroupClaim, g)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName, ClaimTypes.Name, ClaimTypes.Role));
    }

    private async Task<HandleRequestResult> FailAsync(string code, string reason, AuthenticationProperties? properties)
    {
        LogSignInFailed(Logger, code, reason);
        // Anyone can call the callback with a bad state: such refusals are audited at most once a minute,
        // so they cannot flood the audit log. Refusals after a genuine start are always audited.
        if (code != "state" || throttle.TryTake(time.GetUtcNow()))
        {
            await audit.WriteAsync("anonymous", "console.login", properties?.GetString(IssuerKey), AuditOutcome.Denied,
                new { method = "oidc", reason }, Context.RequestAborted);
        }

        return HandleRequestResult.Fail(new OidcException(code, reason), properties);
    }


    private static string Random() => Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));

    private static string Short(string? value) => value is null ? "" : value.Length <= 80 ? value : value[..80];

    [LoggerMessage(2101, LogLevel.Warning, "Could not reach identity provider {Authority}: {Error}")]
    private static partial void LogProviderUnreachable(ILogger logger, string authority, string error);

    [LoggerMessage(2102, LogLevel.Warning, "Console sign-in refused ({Code}): {Reason}")]
    private static partial void LogSignInFailed(ILogger logger, string code, string reason);
}

public sealed partial class OidcHandler
{
    /// <summary>One audit record a minute for refused callbacks that anyone could send (one per host).</summary>
    public sealed class StateAuditThrottle() : Throttle(TimeSpan.FromMinutes(1));
}

/// <summary>Why a console sign-in failed; <see cref="Code"/> picks the message the sign-in page shows.</summary>
public sealed class OidcException(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
