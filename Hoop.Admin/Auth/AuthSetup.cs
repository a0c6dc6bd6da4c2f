using System.Security.Claims;
using Hoop.Data.Entities;
using Hoop.Proxy.Policy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace Hoop.Admin.Auth;

/// <summary>Sign-in for people on the console port. (Agents authenticate on the proxy port.)</summary>
public static class AuthSetup
{
    public const string AuthMethodClaim = "hoop:auth";
    public const string PasswordStampClaim = "hoop:password-stamp";

    public static IServiceCollection AddHoopAuth(this IServiceCollection services)
    {
        services.AddSingleton<PasswordLimiter>();
        services.AddHostedService(sp => sp.GetRequiredService<PasswordLimiter>());
        services.AddSingleton<BreakGlassAdmin>();
        services.AddHostedService(sp => sp.GetRequiredService<BreakGlassAdmin>());
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(options =>
            {
                options.Cookie.Name = Hoop.Proxy.Model.IdentityOptions.ConsoleCookie;
                options.Cookie.SecurePolicy = CookieSecurePolicy.Always;
                options.Cookie.SameSite = SameSiteMode.Lax;
                options.Cookie.HttpOnly = true;
                options.ExpireTimeSpan = TimeSpan.FromHours(8);
                options.SlidingExpiration = true;
                options.LoginPath = "/login";
                options.LogoutPath = "/auth/logout";
                options.AccessDeniedPath = "/not-allowed";
                options.Events = new CookieAuthenticationEvents { OnValidatePrincipal = RejectStaleSessionAsync };
            });
        services.AddOidcSignIn();
        services.AddTransient<IClaimsTransformation, RoleClaims>();
        services.AddScoped<AuthenticationStateProvider, ConsoleAuthenticationState>();
        // Deny by default: an endpoint is anonymous only where it says so (health, sign-in, static files). The
        // proxy port does not use this: it has its own pipeline, whose gate authenticates agents itself.
        services.AddAuthorization(o => o.FallbackPolicy = new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
        services.AddCascadingAuthenticationState();
        return services;
    }

    public static void MapAuthEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/auth/login", SignInAsync).AllowAnonymous();
        endpoints.MapOidcSignIn();
    }

    private static async Task<IResult> SignInAsync([FromForm] LoginForm form, HttpContext context, BreakGlassAdmin admin)
    {
        var returnUrl = IsLocal(form.ReturnUrl) ? form.ReturnUrl! : "/";
        var verdict = string.IsNullOrEmpty(form.UserName) || string.IsNullOrEmpty(form.Password)
            ? new PasswordVerdict(PasswordOutcome.Refused)
            : await admin.VerifyAsync(form.UserName, form.Password, context.Connection.RemoteIpAddress, context.RequestAborted);
        if (verdict.Outcome == PasswordOutcome.Throttled)
        {
            // 429 as for every password check, with a page a person can read.
            context.Response.Headers.RetryAfter = verdict.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Content(
                $"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Try again shortly</title></head><body><p>Too many sign-in attempts from your address. Try again in {verdict.RetryAfterSeconds} seconds.</p><p><a href="/login">Back to sign-in</a></p></body></html>""",
                "text/html; charset=utf-8", statusCode: StatusCodes.Status429TooManyRequests);
        }

        if (!verdict.Accepted)
        {
            return Results.LocalRedirect($"/login?error=1&returnUrl={Uri.EscapeDataString(returnUrl)}");
        }

        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.Name, form.UserName!),
                new Claim(ClaimTypes.Role, nameof(Roles.Admin)),
                new Claim(AuthMethodClaim, BreakGlassAdmin.Actor),
                new Claim(PasswordStampClaim, await admin.PasswordStampAsync(context.RequestAborted)),
            ],
            CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(new ClaimsPrincipal(identity));
        return Results.LocalRedirect(returnUrl);
    }

    /// <summary>
    /// A break-glass session ends everywhere when the password changes; an OIDC session when its provider is removed
    /// or after <see cref="OidcSession.MaximumAge"/>.
    /// </summary>
    private static async Task RejectStaleSessionAsync(CookieValidatePrincipalContext context)
    {
        var services = context.HttpContext.RequestServices;
        var valid = context.Principal?.FindFirstValue(AuthMethodClaim) switch
        {
            BreakGlassAdmin.Actor => context.Principal.FindFirstValue(PasswordStampClaim)
                == await services.GetRequiredService<BreakGlassAdmin>().PasswordStampAsync(context.HttpContext.RequestAborted),
            HoopClaims.OidcMethod => OidcSession.StillValid(context.Principal, services.GetRequiredService<PolicyStore>().Current,
                services.GetRequiredService<TimeProvider>().GetUtcNow()),
            _ => true,
        };
        if (!valid)
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
        }
    }

    /// <summary>Only paths on this site: no scheme, no host, no protocol-relative "//" or "/\".</summary>
    internal static bool IsLocal(string? url) =>
        !string.IsNullOrEmpty(url) && url[0] == '/'
        && (url.Length == 1 || (url[1] != '/' && url[1] != '\\'))
        && !url.Contains("\\", StringComparison.Ordinal)
        && !url.Any(char.IsControl);

    public sealed class LoginForm
    {
        public string? UserName { get; set; }
        public string? Password { get; set; }
        public string? ReturnUrl { get; set; }
    }
}
