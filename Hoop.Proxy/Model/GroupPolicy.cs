using Hoop.Data.Entities;

namespace Hoop.Proxy.Model;

public sealed record GroupPolicy(string Name, Roles Roles, IReadOnlySet<Guid> ConnectionIds, string? Issuer = null)
{
    /// <summary>Whether a group name from <paramref name="issuer"/> (null: assigned by an admin to an API key) is this group.</summary>
    public bool Accepts(string? issuer) => Issuer is null || issuer is null || Issuer == issuer;
}
