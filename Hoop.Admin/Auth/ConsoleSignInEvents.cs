using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace Hoop.Admin.Auth;

/// <summary>
/// What Hoop adds to ASP.NET Core's OpenIdConnect handler for console sign-in: the scheme a sign-in started with
/// finishes it; the cookie gets Hoop's claims (groups from the ID token, else from userinfo; the provider; the time);
/// a sign-in is audited; a failure goes back to the sign-in page with a reason code and an audit record.
/// </summary>
internal sealed partial class ConsoleSignInEvents(
    PolicyStore policy,
    OidcSchemes schemes,
    AuditLog audit,
    ConsoleSignInEvents.StateAuditThrottle throttle,
    TimeProvider time,
    ILogger<ConsoleSignInEvents> logger) : OpenIdConnectEvents
{
    // Marks a request whose state and correlation cookie were accepted: a plain failure before that is about them.
    private static readonly object StateAccepted = new();

    public override async Task RedirectToIdentityProvider(RedirectContext context)
    {
        // The groups scope only where the provider offers it: some refuse a scope they do not know.
        var configuration = await context.Options.ConfigurationManager!.GetConfigurationAsync(context.HttpContext.RequestAborted);
        if (configuration.ScopesSupported.Contains("groups"))
        {
            context.ProtocolMessage.Scope += " groups";
        }
    }

    public override Task MessageReceived(MessageReceivedContext context)
    {
        // A state no scheme can read is left to the handler, which passes it on (SkipUnrecognizedRequests).
        if (context.Properties?.GetString(OidcSignIn.IssuerKey) is not { } started)
        {
            return Task.CompletedTask;
        }

        if (started != schemes.IssuerOf(context.Scheme.Name)?.Authority)
        {
            context.SkipHandler();
        }
        else if (!policy.Current.Issuers.TryGetValue(started, out var issuer) || !issuer.AllowsConsoleSignIn)
        {
            context.Fail(new SignInFailure("issuer", "the provider is no longer registered"));
        }

        return Task.CompletedTask;
    }

    public override Task AuthorizationCodeReceived(AuthorizationCodeReceivedContext context)
    {
        context.HttpContext.Items[StateAccepted] = true;
        return Task.CompletedTask;
    }

    public override async Task TokenValidated(TokenValidatedContext context)
    {
        if (Current(context.Scheme.Name) is not { } issuer)
        {
            context.Fail(new SignInFailure("issuer", "the provider is no longer registered"));
            return;
        }

        // The handler accepts an unsigned ID token from the token endpoint (OIDC Core 3.1.3.7) and the discovery
        // document's issuer too; Hoop holds every token to the same rule: signed, by exactly the issuer registered.
        var idToken = context.TokenEndpointResponse?.IdToken;
        var jwt = idToken is null ? null : new JsonWebToken(idToken);
        if (jwt is null || !jwt.IsSigned || jwt.Issuer != issuer.Authority)
        {
            context.Fail(new SignInFailure("token", "the ID token is unsigned or names another issuer"));
            return;
        }

        var groups = jwt.TryGetPayloadValue<object>(issuer.GroupsClaim, out _)
            ? TokenValidator.GroupsOf(jwt, issuer.GroupsClaim)
            : await UserInfoGroupsAsync(context, issuer, jwt.Subject);
        context.Principal = Principal(issuer, jwt, groups);
        context.Properties!.StoreTokens([new AuthenticationToken { Name = OpenIdConnectParameterNames.IdToken, Value = idToken! }]);
    }

    /// <summary>
    /// Most providers leave groups out of the ID token by default and give them at the userinfo endpoint. Asked only
    /// then, and a refusal there means no groups rather than no sign-in: the handler's own userinfo step
    /// (GetClaimsFromUserInfoEndpoint) asks at every sign-in and fails it when userinfo refuses the access token, as
    /// providers do when that token is for another resource (Hoop's audience).
    /// </summary>
    private static async Task<List<string>> UserInfoGroupsAsync(TokenValidatedContext context, IssuerOptions issuer, string subject)
    {
        var cancellation = context.HttpContext.RequestAborted;
        var accessToken = context.TokenEndpointResponse?.AccessToken;
        var configuration = await context.Options.ConfigurationManager!.GetConfigurationAsync(cancellation);
        if (string.IsNullOrEmpty(configuration.UserInfoEndpoint) || string.IsNullOrEmpty(accessToken))
        {
            return [];
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, configuration.UserInfoEndpoint);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
        using var response = await context.Options.Backchannel.SendAsync(request, cancellation);
        if (!response.IsSuccessStatusCode)
        {
            return [];
        }

        using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellation), cancellationToken: cancellation);
        // OIDC Core 5.3.4: a userinfo answer about anyone else is ignored, and so is this sign-in.
        if (body.RootElement.ValueKind != JsonValueKind.Object || !body.RootElement.TryGetProperty("sub", out var sub)
            || sub.ValueKind != JsonValueKind.String || sub.GetString() != subject)
        {
            throw new SignInFailure("token", "the provider's userinfo is about another subject");
        }

        return body.RootElement.TryGetProperty(issuer.GroupsClaim, out var groups) ? TokenValidator.GroupsOf(groups) : [];
    }

    public override async Task TicketReceived(TicketReceivedContext context)
    {
        if (!AuthSetup.IsLocal(context.ReturnUri))
        {
            context.ReturnUri = "/";
        }

        var principal = context.Principal!;
        var authority = principal.FindFirstValue(HoopClaims.Issuer)!;
        var groups = principal.FindAll(HoopClaims.Group).Select(c => c.Value).ToList();
        var roles = policy.Current.RolesOf(groups, authority);
        await audit.WriteAsync(principal.Identity!.Name!, "console.login", authority, AuditOutcome.Success,
            new { method = HoopClaims.OidcMethod, groups, roles = roles.ToString() }, context.HttpContext.RequestAborted);
    }

    public override async Task RemoteFailure(RemoteFailureContext context)
    {
        var (code, reason) = Explain(context);
        await RefuseAsync(context.HttpContext, code, reason, schemes.IssuerOf(context.Scheme.Name)?.Authority);
        context.HandleResponse();
    }

    public override Task RedirectToIdentityProviderForSignOut(RedirectContext context)
    {
        if (string.IsNullOrEmpty(context.ProtocolMessage.IssuerAddress))
        {
            // The provider offers no RP-initiated logout: Hoop's own session is over, and that is all there is to end.
            context.Response.Redirect(OidcSignIn.SignedOutPath);
            context.HandleResponse();
            return Task.CompletedTask;
        }

        context.ProtocolMessage.PostLogoutRedirectUri = $"{context.Request.Scheme}://{context.Request.Host}{OidcSignIn.SignedOutPath}";
        context.ProtocolMessage.ClientId = context.Options.ClientId;
        return Task.CompletedTask;
    }

    /// <summary>Sends the browser to the sign-in page with <paramref name="code"/>, and audits the refusal.</summary>
    public async Task RefuseAsync(HttpContext context, string code, string reason, string? issuer)
    {
        LogSignInRefused(code, reason);
        // Anyone can call the callback with a bad state: such refusals are audited at most once a minute, so they
        // cannot flood the audit log. Refusals after a genuine start are always audited.
        if (code != "state" || throttle.TryTake(time.GetUtcNow()))
        {
            await audit.WriteAsync("anonymous", "console.login", issuer, AuditOutcome.Denied,
                new { method = HoopClaims.OidcMethod, reason }, context.RequestAborted);
        }

        // Codes, not text, travel in the URL: the sign-in page says what each means.
        context.Response.Redirect($"/login?error={code}");
    }

    /// <summary>The reason code for the sign-in page, and the reason for the audit record.</summary>
    private (string Code, string Reason) Explain(RemoteFailureContext context)
    {
        var failure = context.Failure!;
        if (failure is SignInFailure own)
        {
            return (own.Code, own.Message);
        }

        if (context.Request.Query["error"].ToString() is { Length: > 0 } error)
        {
            return ("refused", $"the provider answered '{Short(error)}'");
        }

        var accepted = context.HttpContext.Items.ContainsKey(StateAccepted);
        switch (failure)
        {
            // The handler fails in plain words only on the state and correlation checks before the code is redeemed.
            case AuthenticationFailureException when !accepted:
                return ("state", "the sign-in did not start in this browser (its correlation cookie is missing or wrong)");
            case HttpRequestException or IOException or InvalidOperationException or TaskCanceledException:
                var cause = IssuerMetadata.Cause(failure);
                LogProviderUnreachable(schemes.IssuerOf(context.Scheme.Name)?.Authority ?? context.Scheme.Name, cause);
                return ("provider", $"the provider could not be reached or answered nonsense: {Short(cause)}");
            case OpenIdConnectProtocolException when !accepted:
                return ("refused", "the provider sent no authorization code");
            case OpenIdConnectProtocolException { Data: var data } when data["error"] is string refusal:
                return ("token", $"the provider would not redeem the code ('{Short(refusal)}')");
            default:
                return ("token", $"the provider's answer could not be verified ({failure.GetType().Name})");
        }
    }

    private IssuerOptions? Current(string scheme) =>
        schemes.IssuerOf(scheme) is { } built && policy.Current.Issuers.TryGetValue(built.Authority, out var issuer) && issuer.AllowsConsoleSignIn
            ? issuer
            : null;

    private ClaimsPrincipal Principal(IssuerOptions issuer, JsonWebToken jwt, List<string> groups)
    {
        string? Claim(string type) => jwt.TryGetPayloadValue<string>(type, out var value) && !string.IsNullOrWhiteSpace(value) ? value : null;
        var claims = new List<Claim>
        {
            new(ClaimTypes.NameIdentifier, jwt.Subject),
            new(ClaimTypes.Name, Claim("preferred_username") ?? Claim("email") ?? Claim("name") ?? jwt.Subject),
            new(AuthSetup.AuthMethodClaim, HoopClaims.OidcMethod),
            new(HoopClaims.Issuer, issuer.Authority),
            new(HoopClaims.SignedIn, time.GetUtcNow().UtcTicks.ToString(CultureInfo.InvariantCulture)),
        };
        claims.AddRange(groups.Select(g => new Claim(HoopClaims.Group, g)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, HoopClaims.OidcMethod, ClaimTypes.Name, ClaimTypes.Role));
    }

    private static string Short(string value) => value.Length <= 80 ? value : value[..80];

    [LoggerMessage(3021, LogLevel.Warning, "Could not reach identity provider {Authority}: {Error}")]
    private partial void LogProviderUnreachable(string authority, string error);

    [LoggerMessage(3022, LogLevel.Warning, "Console sign-in refused ({Code}): {Reason}")]
    private partial void LogSignInRefused(string code, string reason);

    /// <summary>One audit record a minute for refused callbacks that anyone could send (one per host).</summary>
    internal sealed class StateAuditThrottle() : Throttle(TimeSpan.FromMinutes(1));
}

/// <summary>Why a console sign-in was refused; <see cref="Code"/> picks the message the sign-in page shows.</summary>
internal sealed class SignInFailure(string code, string message) : Exception(message)
{
    public string Code { get; } = code;
}
