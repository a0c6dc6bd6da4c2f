using System.Security.Claims;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Policy;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;

namespace Hoop.Admin.Auth;

/// <summary>
/// People sign in to the console with an identity provider through ASP.NET Core's OpenIdConnect handler: code flow
/// with PKCE, nonce and state checked, the state bound to the browser by a correlation cookie (Secure, HttpOnly).
/// The routes: <c>/auth/oidc?issuer=…&amp;returnUrl=…</c> starts, <see cref="CallbackPath"/> finishes,
/// <c>/auth/logout</c> ends the session here and, where the provider offers it, there.
/// </summary>
internal static partial class OidcSignIn
{
    /// <summary>The redirect URI registered at every provider: one for all of them.</summary>
    public const string CallbackPath = "/auth/oidc/callback";

    /// <summary>The post-logout redirect URI registered at providers.</summary>
    public const string SignedOutPath = "/login?signedOut=1";

    /// <summary>The sign-in's item naming the provider it started with.</summary>
    public const string IssuerKey = "hoop.issuer";

    /// <summary>
    /// One scheme per provider, added and removed at run time (<see cref="OidcSchemes"/>), rather than one scheme whose
    /// options are chosen per request: the handler reads its options once, when the authentication middleware creates it
    /// for a request, before the challenge's properties or the callback's state can say which provider is meant, and the
    /// sign-out needs the signed-in person's provider too. Per-provider schemes keep the handler's own flow, with its
    /// options cached per scheme and dropped from the cache when the provider changes. They all share
    /// <see cref="CallbackPath"/> (the redirect URI registered at providers): each skips a state that is not its own.
    /// AddOpenIdConnect registers a scheme fixed at start-up, so its pieces are registered here instead: the handler's
    /// own post-configuration, Hoop's options per scheme, and the events.
    /// </summary>
    public static IServiceCollection AddOidcSignIn(this IServiceCollection services)
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IPostConfigureOptions<OpenIdConnectOptions>, OpenIdConnectPostConfigureOptions>());
        services.AddSingleton<OidcSchemes>();
        services.AddHostedService(sp => sp.GetRequiredService<OidcSchemes>());
        services.AddSingleton<OidcSchemeOptions>();
        services.AddSingleton<IConfigureOptions<OpenIdConnectOptions>>(sp => sp.GetRequiredService<OidcSchemeOptions>());
        services.AddSingleton<ConsoleSignInEvents>();
        services.AddSingleton<ConsoleSignInEvents.StateAuditThrottle>();
        return services;
    }

    public static void MapOidcSignIn(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/auth/oidc", ChallengeAsync).AllowAnonymous();
        // Reached only when no provider's scheme took the callback: its state is unreadable, or its provider is gone.
        endpoints.MapMethods(CallbackPath, [HttpMethods.Get, HttpMethods.Post], UnclaimedCallbackAsync).AllowAnonymous().DisableAntiforgery();
        endpoints.MapPost("/auth/logout", SignOutAsync);
    }

    private static async Task<IResult> ChallengeAsync(string? issuer, string? returnUrl, HttpContext context, OidcSchemes schemes, ILoggerFactory loggers)
    {
        if (issuer is null || schemes.SchemeFor(issuer) is not { } scheme)
        {
            return Results.LocalRedirect("/login?error=issuer");
        }

        var properties = new AuthenticationProperties(new Dictionary<string, string?> { [IssuerKey] = issuer })
        {
            RedirectUri = AuthSetup.IsLocal(returnUrl) ? returnUrl : "/",
        };
        try
        {
            await context.ChallengeAsync(scheme, properties);
            return Results.Empty;
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or TaskCanceledException && !context.Response.HasStarted)
        {
            // Discovery failed (unreachable, untrusted, nonsense): the sign-in page says so, the log says why.
            LogProviderUnreachable(loggers.CreateLogger(typeof(OidcSignIn)), issuer, IssuerMetadata.Cause(e));
            return Results.LocalRedirect("/login?error=provider");
        }
    }

    private static async Task UnclaimedCallbackAsync(HttpContext context, OidcSchemeOptions options, PolicyStore policy, ConsoleSignInEvents events)
    {
        var state = context.Request.Query["state"].ToString();
        if (state.Length == 0 && context.Request.HasFormContentType)
        {
            state = (await context.Request.ReadFormAsync(context.RequestAborted))["state"].ToString();
        }

        var started = state.Length == 0 ? null : options.State.Unprotect(state)?.GetString(IssuerKey);
        if (started is not null && !(policy.Current.Issuers.TryGetValue(started, out var issuer) && issuer.AllowsConsoleSignIn))
        {
            await events.RefuseAsync(context, "issuer", "the provider is no longer registered", started);
            return;
        }

        await events.RefuseAsync(context, "state", "the state parameter is missing or was altered", started);
    }

    /// <summary>Ends the console session, and the provider's too where it offers RP-initiated logout.</summary>
    private static async Task<IResult> SignOutAsync(HttpContext context, OidcSchemes schemes, IAntiforgery antiforgery)
    {
        // The form has no fields to bind, so nothing checks its token unless this does: another site must not sign people out.
        if (!await antiforgery.IsRequestValidAsync(context))
        {
            return Results.Problem("The form's antiforgery token is missing or wrong; sign out from the console itself.",
                statusCode: StatusCodes.Status400BadRequest, title: "Refused");
        }

        var scheme = context.User.FindFirstValue(HoopClaims.Issuer) is { } authority ? schemes.SchemeFor(authority) : null;
        var endedThere = false;
        if (scheme is not null && await context.GetTokenAsync(OpenIdConnectParameterNames.IdToken) is not null)
        {
            try
            {
                // Before the cookie goes: the handler reads the ID token (id_token_hint) from it.
                await context.SignOutAsync(scheme);
                endedThere = true;
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or TaskCanceledException)
            {
                // The provider cannot be reached; Hoop's own session ends all the same.
            }
        }

        await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        return endedThere ? Results.Empty : Results.LocalRedirect(SignedOutPath);
    }

    [LoggerMessage(3020, LogLevel.Warning, "Could not start a sign-in with identity provider {Authority}: {Error}")]
    private static partial void LogProviderUnreachable(ILogger logger, string authority, string error);
}
