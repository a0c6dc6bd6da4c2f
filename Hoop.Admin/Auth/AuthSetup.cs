using System.Security.Claims;
using Hoop.Data.Entities;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;

namespace Hoop.Admin.Auth;

/// <summary>Sign-in for people on the console port. (Agents authenticate on the proxy port.)</summary>
public static class AuthSetup
{
    public const string AuthMethodClaim = "hoop:auth";
    public const string SignInLimit = "sign-in";

    public static IServiceCollection AddHoopAuth(this IServiceCollection services)
    {
        services.AddSingleton<BreakGlassAdmin>();
        services.AddHostedService(sp => sp.GetRequiredService<BreakGlassAdmin>());
        services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(options =>
            {
                options.Cookie.Name = "__Host-hoop";
                options.Cookie.SecurePolicy = CookieSecurePolicy.Always;
                options.Cookie.SameSite = SameSiteMode.Lax;
                options.Cookie.HttpOnly = true;
                options.ExpireTimeSpan = TimeSpan.FromHours(8);
                options.SlidingExpiration = true;
                options.LoginPath = "/login";
                options.LogoutPath = "/auth/logout";
                options.AccessDeniedPath = "/login";
            });
        // Deny by default: an endpoint is anonymous only where it says so (health, sign-in, static files,
        // the proxy port, whose gate authenticates agents itself).
        services.AddAuthorization(o => o.FallbackPolicy = new AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
        // Each sign-in costs a deliberately slow password hash: a few at a time, the rest wait or get 429,
        // so guessing cannot starve the data path of CPU.
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.AddConcurrencyLimiter(SignInLimit, l =>
            {
                l.PermitLimit = 2;
                l.QueueLimit = 8;
            });
        });
        services.AddCascadingAuthenticationState();
        return services;
    }

    public static void MapAuthEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/auth/login", SignInAsync).AllowAnonymous().RequireRateLimiting(SignInLimit);
        endpoints.MapPost("/auth/logout", async (HttpContext context) =>
        {
            await context.SignOutAsync();
            return Results.LocalRedirect("/login");
        });
    }

    private static async Task<IResult> SignInAsync([FromForm] LoginForm form, HttpContext context, BreakGlassAdmin admin)
    {
        var returnUrl = IsLocal(form.ReturnUrl) ? form.ReturnUrl! : "/";
        if (string.IsNullOrEmpty(form.UserName) || string.IsNullOrEmpty(form.Password)
            || !await admin.VerifyAsync(form.UserName, form.Password, context.Connection.RemoteIpAddress?.ToString(), context.RequestAborted))
        {
            return Results.LocalRedirect($"/login?error=1&returnUrl={Uri.EscapeDataString(returnUrl)}");
        }

        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.Name, form.UserName),
                new Claim(ClaimTypes.Role, nameof(Roles.Admin)),
                new Claim(AuthMethodClaim, BreakGlassAdmin.Actor),
            ],
            CookieAuthenticationDefaults.AuthenticationScheme);
        await context.SignInAsync(new ClaimsPrincipal(identity));
        return Results.LocalRedirect(returnUrl);
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
