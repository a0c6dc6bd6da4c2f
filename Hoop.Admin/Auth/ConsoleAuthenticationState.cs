using System.Security.Claims;
using Hoop.Proxy.Policy;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Components.Server;

namespace Hoop.Admin.Auth;

/// <summary>
/// A console page stays open over one connection for as long as the tab does. Every ten seconds this checks the
/// user's roles against the current policy; when they changed the page loses its sign-in and reloads, so the next
/// request reads the new roles (a removed group locks its people out within seconds, not at their next sign-in).
/// A break-glass page ends the same way when the break-glass password changes.
/// </summary>
public sealed class ConsoleAuthenticationState(ILoggerFactory loggerFactory, PolicyStore policy, BreakGlassAdmin breakGlass, TimeProvider time)
    : RevalidatingServerAuthenticationStateProvider(loggerFactory)
{
    protected override TimeSpan RevalidationInterval => TimeSpan.FromSeconds(10);

    protected override async Task<bool> ValidateAuthenticationStateAsync(AuthenticationState authenticationState, CancellationToken cancellationToken)
    {
        var user = authenticationState.User;
        switch (user.FindFirstValue(AuthSetup.AuthMethodClaim))
        {
            case BreakGlassAdmin.Actor:
                return user.FindFirstValue(AuthSetup.PasswordStampClaim) == await breakGlass.PasswordStampAsync(cancellationToken);
            case HoopClaims.OidcMethod:
                if (!OidcSession.StillValid(user, policy.Current, time.GetUtcNow()))
                {
                    return false;
                }

                var held = user.FindAll(ClaimTypes.Role).Select(c => c.Value).Order(StringComparer.Ordinal);
                var now = RoleClaims.RolesOf(user, policy.Current).Order(StringComparer.Ordinal);
                return held.SequenceEqual(now);
            default:
                return true;
        }
    }
}
