using System.Globalization;
using System.Security.Claims;
using Hoop.Proxy.Model;

namespace Hoop.Admin.Auth;

/// <summary>How long a console session that began at an identity provider may go on.</summary>
public static class OidcSession
{
    /// <summary>However active, a console session signs in at its provider again after this long.</summary>
    public static readonly TimeSpan MaximumAge = TimeSpan.FromHours(12);

    /// <summary>
    /// Whether an OIDC console session may go on: its provider is still registered for sign-in, and it is not older
    /// than <see cref="MaximumAge"/> (so a person disabled at the provider is out within that time).
    /// </summary>
    public static bool StillValid(ClaimsPrincipal user, PolicySnapshot policy, DateTimeOffset now) =>
        user.FindFirstValue(HoopClaims.Issuer) is { } authority
        && policy.Issuers.TryGetValue(authority, out var issuer) && issuer.AllowsConsoleSignIn
        && long.TryParse(user.FindFirstValue(HoopClaims.SignedIn), CultureInfo.InvariantCulture, out var ticks)
        && now.UtcTicks - ticks < MaximumAge.Ticks;
}
