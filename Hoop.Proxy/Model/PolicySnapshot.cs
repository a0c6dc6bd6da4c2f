using Hoop.Data.Entities;
using Hoop.Proxy.Guardrails.Rules;
using Hoop.Proxy.Masking;

namespace Hoop.Proxy.Model;

/// <summary>
/// Everything the data path decides with, compiled from the store and never changed after: the hot path reads
/// one field holding the current snapshot and never the database.
/// </summary>
public sealed class PolicySnapshot
{
    public static readonly PolicySnapshot Empty = new("", [], [], [], [], RecordingSettings.From(new RecordingOptions()),
        new CertificateSettings([], new AcmeOptions()), [], new byte[32], []);

    public PolicySnapshot(string version, IEnumerable<ConnectionPolicy> connections, IEnumerable<GroupPolicy> groups,
        IEnumerable<ApiKeyPolicy> apiKeys, IEnumerable<IssuerOptions> issuers, RecordingSettings recording, CertificateSettings certificates,
        IReadOnlyList<CompiledMaskingRule> masking, byte[] pseudonymKey, IReadOnlyList<Guardrail> guardrails)
    {
        Guardrails = guardrails;
        MaskingRules = masking;
        _pseudonymKey = pseudonymKey;
        Recording = recording;
        Certificates = certificates;
        Version = version;
        Connections = connections.ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);
        Groups = groups.ToDictionary(g => g.Name, StringComparer.Ordinal);
        ApiKeysByHash = apiKeys.ToDictionary(k => k.Hash, StringComparer.Ordinal);
        // appsettings.json's issuers come first; the store cannot redefine one of them.
        Issuers = issuers.DistinctBy(i => i.Authority, StringComparer.Ordinal).ToDictionary(i => i.Authority, StringComparer.Ordinal);
    }

    /// <summary>The store's policy version this snapshot was built from.</summary>
    public string Version { get; }

    public IReadOnlyDictionary<string, ConnectionPolicy> Connections { get; }
    public IReadOnlyDictionary<string, GroupPolicy> Groups { get; }
    public IReadOnlyDictionary<string, ApiKeyPolicy> ApiKeysByHash { get; }

    public RecordingSettings Recording { get; }

    /// <summary>The enabled guardrail rules (HTTP and SQL), compiled, in the order they were made.</summary>
    public IReadOnlyList<Guardrail> Guardrails { get; }

    /// <summary>The enabled masking rules, compiled.</summary>
    public IReadOnlyList<CompiledMaskingRule> MaskingRules { get; }

    private readonly byte[] _pseudonymKey;

    /// <summary>The masking rules that apply to this caller on this connection, per direction (often none).</summary>
    public (Masker Request, Masker Response, Masker Recording) MaskersFor(Caller caller, ConnectionPolicy connection)
    {
        if (MaskingRules.Count == 0)
        {
            return (Masker.None, Masker.None, Masker.None);
        }

        // Worked out once per connection, issuer and set of groups while this snapshot lasts: every request asks.
        var key = (connection.Id, caller.Issuer, string.Join('\n', caller.Groups));
        if (_maskers.TryGetValue(key, out var known))
        {
            return known;
        }

        if (_maskers.Count >= MaxCachedMaskers)
        {
            _maskers.Clear();
        }

        return _maskers[key] = Compile(caller, connection);
    }

    private const int MaxCachedMaskers = 10_000;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(Guid, string?, string), (Masker, Masker, Masker)> _maskers = new();

    private (Masker Request, Masker Response, Masker Recording) Compile(Caller caller, ConnectionPolicy connection)
    {
        var groups = AcceptedGroups(caller.Groups, caller.Issuer).ToList();
        Masker For(MaskDirections direction)
        {
            var rules = MaskingRules.Where(r => r.AppliesTo(connection.Id, groups, direction)).ToList();
            return rules.Count == 0 ? Masker.None : new Masker(rules, _pseudonymKey);
        }

        return (For(MaskDirections.Request), For(MaskDirections.Response), For(MaskDirections.Recording));
    }

    /// <summary>
    /// Of the group names a caller presents, those that are registered groups and may come from
    /// <paramref name="issuer"/> (null: assigned by an admin to an API key).
    /// </summary>
    public IEnumerable<string> AcceptedGroups(IEnumerable<string> callerGroups, string? issuer) =>
        callerGroups.Where(name => Groups.TryGetValue(name, out var group) && group.Accepts(issuer));

    /// <summary>The host names Hoop answers to and how its certificate is obtained.</summary>
    public CertificateSettings Certificates { get; }

    /// <summary>The accepted token issuers by their exact issuer URL.</summary>
    public IReadOnlyDictionary<string, IssuerOptions> Issuers { get; }

    /// <summary>
    /// The roles the caller's registered groups carry together. <paramref name="issuer"/> is where the group names
    /// came from (null for an API key's assigned groups); a group bound to another issuer does not count.
    /// </summary>
    public Roles RolesOf(IEnumerable<string> callerGroups, string? issuer)
    {
        var roles = Roles.None;
        foreach (var name in callerGroups)
        {
            if (Groups.TryGetValue(name, out var group) && group.Accepts(issuer))
            {
                roles |= group.Roles;
            }
        }

        return roles;
    }

    /// <summary>The live (known, not revoked, not expired) API key whose hash (<c>ApiKeys.Hash</c>) was presented, or null.</summary>
    public ApiKeyPolicy? FindApiKey(string presentedHash, DateTime now) =>
        ApiKeysByHash.TryGetValue(presentedHash, out var key) && (key.ExpiresAt is not { } expires || expires > now)
            ? key
            : null;

    /// <summary>Whether any of the caller's groups is registered and holds a grant on the connection.</summary>
    public bool Allows(Caller caller, ConnectionPolicy connection)
    {
        foreach (var name in caller.Groups)
        {
            if (Groups.TryGetValue(name, out var group) && group.Accepts(caller.Issuer) && group.ConnectionIds.Contains(connection.Id))
            {
                return true;
            }
        }

        return false;
    }
}
