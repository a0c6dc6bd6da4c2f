using System.Security.Claims;
using Hoop.Data.Entities;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Microsoft.AspNetCore.Authentication;

namespace Hoop.Admin.Auth;

/// <summary>
/// A person signed in with OIDC carries their groups in the cookie, never their roles: the roles are read from the
/// current policy at every request, so a group removed or changed in the console counts at once.
/// </summary>
public sealed class RoleClaims(PolicyStore policy) : IClaimsTransformation
{
    public Task<ClaimsPrincipal> TransformAsync(ClaimsPrincipal principal)
    {
        if (principal.Identity is not ClaimsIdentity { IsAuthenticated: true } identity
            || principal.FindFirstValue(AuthSetup.AuthMethodClaim) != HoopClaims.OidcMethod
            || identity.HasClaim(c => c.Type == RolesReadClaim))
        {
            return Task.FromResult(principal);
        }

        var withRoles = identity.Clone();
        withRoles.AddClaim(new Claim(RolesReadClaim, "1"));
        foreach (var role in RolesOf(principal, policy.Current))
        {
            withRoles.AddClaim(new Claim(ClaimTypes.Role, role));
        }

        return Task.FromResult(new ClaimsPrincipal(withRoles));
    }

    /// <summary>Role names for an OIDC user's groups under <paramref name="snapshot"/>.</summary>
    public static IEnumerable<string> RolesOf(ClaimsPrincipal principal, PolicySnapshot snapshot)
    {
        var roles = snapshot.RolesOf(principal.FindAll(HoopClaims.Group).Select(c => c.Value),
            principal.FindFirstValue(HoopClaims.Issuer) ?? "");
        return Enum.GetValues<Roles>().Where(r => r != Roles.None && roles.HasFlag(r)).Select(r => r.ToString());
    }

    // Marks a principal already transformed (the transformation may run more than once per request).
    private const string RolesReadClaim = "hoop:roles-read";
}
