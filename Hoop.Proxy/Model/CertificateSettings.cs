using System.Text.Json;
using System.Text.Json.Serialization;
using Hoop.Data.Secrets;

namespace Hoop.Proxy.Model;

/// <summary>
/// The names the inbound certificate covers and how it is obtained: appsettings.json's (Hoop:HostNames, Hoop:Acme)
/// until an admin saves others in the console, then those, from the policy snapshot.
/// </summary>
public sealed record CertificateSettings(IReadOnlyList<string> HostNames, AcmeOptions Acme)
{
    /// <summary>Whether both list the same names, in any order or case.</summary>
    public bool SameHostNames(IEnumerable<string> names) =>
        HostNames.ToHashSet(StringComparer.OrdinalIgnoreCase).SetEquals(names);

    /// <summary>The host names ACME orders: those a CA can issue. The others stay covered by the self-signed certificate only.</summary>
    public IReadOnlyList<string> AcmeHostNames => [.. HostNames.Where(n => CertificateSettingsRules.AcmeName(n, Acme.AllowReservedNames) is null)];

    /// <summary>Why each host name ACME leaves out is left out, in plain words (empty when every name is ordered).</summary>
    public IReadOnlyList<string> AcmeLeftOut => [.. HostNames.Select(n => CertificateSettingsRules.AcmeName(n, Acme.AllowReservedNames)).OfType<string>()];

    /// <summary>Whether ACME orders exactly <paramref name="names"/>, in any order or case.</summary>
    public bool SameAcmeHostNames(IEnumerable<string> names) =>
        AcmeHostNames.ToHashSet(StringComparer.OrdinalIgnoreCase).SetEquals(names);

    /// <summary>
    /// Whether the certificate obtained under <paramref name="before"/> no longer fits these settings, so a new one
    /// is ordered at once: other names to order, another CA, another key type. Email, EAB and challenge apply to the next order.
    /// </summary>
    public bool NeedsNewCertificateAfter(CertificateSettings before) =>
        Acme.Enabled && (!SameAcmeHostNames(before.AcmeHostNames) || Acme.DirectoryUrl != before.Acme.DirectoryUrl || Acme.KeyType != before.Acme.KeyType);

    /// <summary>
    /// The stored form: the EAB MAC key encrypted. The trusted-roots file, the alert webhook and whether the CA issues
    /// reserved names stay in appsettings.json.
    /// </summary>
    public string ToStored(SecretProtector secrets) => JsonSerializer.Serialize(new Stored(
        [.. HostNames], Acme.DirectoryUrl?.ToString(), Acme.Email, Acme.EabKeyId,
        Acme.EabMacKey is null ? null : secrets.Protect(Acme.EabMacKey), Acme.Challenge, Acme.KeyType), Json);

    /// <summary>Saved settings over the configured ones; throws <see cref="JsonException"/> when unreadable.</summary>
    public static CertificateSettings FromStored(string json, CertificateSettings configured, SecretProtector secrets)
    {
        var stored = JsonSerializer.Deserialize<Stored>(json, Json) ?? throw new JsonException("empty");
        return new CertificateSettings(stored.HostNames, configured.Acme with
        {
            DirectoryUrl = stored.DirectoryUrl is null ? null : new Uri(stored.DirectoryUrl),
            Email = stored.Email,
            EabKeyId = stored.EabKeyId,
            EabMacKey = stored.ProtectedEabMacKey is null ? null : secrets.UnprotectString(stored.ProtectedEabMacKey),
            Challenge = stored.Challenge,
            KeyType = stored.KeyType,
        });
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    private sealed record Stored(string[] HostNames, string? DirectoryUrl, string? Email, string? EabKeyId, string? ProtectedEabMacKey,
        AcmeChallengeType Challenge, CertificateKeyType KeyType);
}
