using System.Security.Claims;
using Hoop.Admin.Auth;
using Hoop.Data.Entities;
using Hoop.Proxy.Model;

namespace Hoop.Admin.Management;

/// <summary>
/// Which sessions a person may see: admins and auditors every session; anyone else only their own (the sessions
/// their token or API key opened), and only while an admin lets users see their own sessions.
/// </summary>
public sealed record SessionScope(bool All, string? Own)
{
    public static readonly SessionScope Everything = new(true, null);

    /// <summary>Sees no session at all.</summary>
    public bool Nothing => !All && Own is null;

    public bool Allows(Session session) => All || (Own is not null && session.CallerKey == Own);

    /// <summary>The filter narrowed to what this scope may see.</summary>
    public SessionFilter Narrow(SessionFilter filter) => All ? filter : filter with { OwnedBy = Own ?? "" };

    public static SessionScope Of(ClaimsPrincipal user, PolicySnapshot policy)
    {
        if (user.IsInRole(nameof(Roles.Admin)) || user.IsInRole(nameof(Roles.Auditor)))
        {
            return Everything;
        }

        return new(false, policy.Recording.UsersSeeOwnSessions ? CallerKeyOf(user) : null);
    }

    /// <summary>
    /// The identity a session records for its caller (<see cref="Caller.Key"/>): the API's principal carries it; a
    /// person signed in to the console with OIDC is their issuer and subject, as a token of theirs would be.
    /// </summary>
    private static string? CallerKeyOf(ClaimsPrincipal user)
    {
        if (user.FindFirstValue(HoopClaims.CallerKey) is { } key)
        {
            return key;
        }

        return user.FindFirstValue(HoopClaims.Issuer) is { } issuer && user.FindFirstValue(ClaimTypes.NameIdentifier) is { } subject
            ? Caller.KeyOf(subject, issuer, null)
            : null;
    }
}
