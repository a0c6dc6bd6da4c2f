using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Entities;
using Hoop.Proxy.Credentials;

namespace Hoop.Proxy.Model;

/// <summary>
/// A connection as the data path needs it, with its credential decrypted in memory.
/// Deliberately a class with no generated ToString: nothing may print the secret.
/// </summary>
public sealed class ConnectionPolicy
{
    public required Guid Id { get; init; }
    public required string Name { get; init; }
    public required ConnectionKind Kind { get; init; }
    public required Uri Address { get; init; }
    public required bool Enabled { get; init; }
    public required TlsVerification TlsVerification { get; init; }
    public X509Certificate2Collection? CaBundle { get; init; }
    public string? PinnedSha256 { get; init; }
    public required CredentialKind CredentialKind { get; init; }
    public string? CredentialName { get; init; }
    public string? CredentialSecret { get; init; }

    /// <summary>Every form the credential takes on the wire, to scrub from whatever comes back from the backend.</summary>
    internal SecretScrubber Secrets { get; init; } = SecretScrubber.None;
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>Changes whenever the stored connection changes, so upstream clients are rebuilt only then.</summary>
    public required string Version { get; init; }

    public override string ToString() => Name;
}
