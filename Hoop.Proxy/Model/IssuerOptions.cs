using System.Security.Cryptography.X509Certificates;

namespace Hoop.Proxy.Model;

/// <summary>
/// One issuer, from appsettings.json or the store. Deliberately a class with no generated ToString:
/// <see cref="ClientSecret"/> must never be printed.
/// </summary>
public sealed class IssuerOptions
{
    /// <summary>The store's id, or null for an issuer of appsettings.json (read-only in the console).</summary>
    public Guid? Id { get; init; }

    /// <summary>The issuer URL, exactly as in the tokens' iss claim; discovery is read from it.</summary>
    public required string Authority { get; init; }

    /// <summary>The aud value tokens must carry for Hoop.</summary>
    public required string Audience { get; init; }

    /// <summary>The claim listing the caller's groups (a JSON array or a space-separated string).</summary>
    public string GroupsClaim { get; init; } = "groups";

    /// <summary>Discovery document address; defaults to Authority + /.well-known/openid-configuration.</summary>
    public string? MetadataAddress { get; init; }

    /// <summary>Only for a provider on loopback in development: allows discovery over plain http.</summary>
    public bool RequireHttpsMetadata { get; init; } = true;

    /// <summary>Shown on the console's sign-in button.</summary>
    public string? DisplayName { get; init; }

    /// <summary>The console's client at this provider; without one, the issuer serves agents only.</summary>
    public string? ClientId { get; init; }

    public string? ClientSecret { get; init; }

    /// <summary>PEM roots the provider's TLS is verified with (a private CA); null: the system's roots.</summary>
    public string? CaBundlePem { get; init; }

    /// <summary>In appsettings.json: a PEM file read into <see cref="CaBundlePem"/> at start.</summary>
    public string? CaBundleFile { get; init; }

    private X509Certificate2Collection? _caBundle;

    /// <summary><see cref="CaBundlePem"/> read.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The PEM holds no readable certificate.</exception>
    public X509Certificate2Collection? CaBundle => CaBundlePem is null ? null : _caBundle ??= ReadBundle(CaBundlePem);

    /// <exception cref="System.Security.Cryptography.CryptographicException">The PEM holds no readable certificate.</exception>
    public static X509Certificate2Collection ReadBundle(string pem)
    {
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPem(pem);
        return bundle.Count > 0 ? bundle : throw new System.Security.Cryptography.CryptographicException("The PEM text holds no certificate.");
    }

    public string DiscoveryUrl => MetadataAddress ?? Authority.TrimEnd('/') + "/.well-known/openid-configuration";

    public bool AllowsConsoleSignIn => !string.IsNullOrEmpty(ClientId);

    public override string ToString() => Authority;
}
