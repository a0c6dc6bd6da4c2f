namespace Hoop.Admin.Auth;

/// <summary>
/// The claims Hoop keeps for a person signed in with an identity provider (in the console's cookie) and for an API
/// caller: groups and provider, never roles, which are read from the current policy at every request.
/// </summary>
public static class HoopClaims
{
    /// <summary>The <see cref="AuthSetup.AuthMethodClaim"/> value, and the identity's type, of a sign-in with a provider.</summary>
    public const string OidcMethod = "oidc";

    /// <summary>On an admin API caller: the identity its sessions are recorded under (<see cref="Hoop.Proxy.Model.Caller.Key"/>).</summary>
    public const string CallerKey = "hoop:caller";

    /// <summary>One per group the provider gave (ID token or userinfo, or the agent's token).</summary>
    public const string Group = "hoop:group";

    /// <summary>The provider's authority, exactly as registered: roles and ownership are per provider.</summary>
    public const string Issuer = "hoop:issuer";

    /// <summary>When the person signed in at the provider (UTC ticks), for <see cref="OidcSession.MaximumAge"/>.</summary>
    public const string SignedIn = "hoop:signed-in";
}
