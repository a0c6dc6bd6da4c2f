using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Hoop.Data.Entities;

/// <summary>A named backend that agents reach through Hoop, with the credential Hoop keeps for it.</summary>
public sealed class Connection : IVersioned
{
    public Guid Id { get; set; } = Guid.NewGuid();

    /// <summary>Lower-case DNS label: it is both the host-name prefix and the path prefix on the proxy port.</summary>
    public required string Name { get; set; }

    public ConnectionKind Kind { get; set; }

    /// <summary>Backend URL (HTTP) or host:port (Postgres).</summary>
    public required string Address { get; set; }

    public TlsVerification TlsVerification { get; set; } = TlsVerification.SystemRoots;

    /// <summary>PEM bundle of trusted roots when <see cref="TlsVerification"/> is CaBundle.</summary>
    public string? CaBundlePem { get; set; }

    /// <summary>SHA-256 of the backend certificate, hex, when <see cref="TlsVerification"/> is Pinned.</summary>
    public string? PinnedCertificateSha256 { get; set; }

    public CredentialKind CredentialKind { get; set; }

    /// <summary>The non-secret half of the credential: basic user name, header name, or database user.</summary>
    public string? CredentialName { get; set; }

    /// <summary>The secret half, encrypted with <see cref="Secrets.SecretProtector"/>. Never leaves the store in clear.</summary>
    public string? ProtectedCredential { get; set; }

    public DateTime? CredentialChangedAt { get; set; }

    public bool Enabled { get; set; } = true;

    /// <summary>Days to keep recorded sessions; null keeps them until deleted.</summary>
    public int? RetentionDays { get; set; }

    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public Guid Version { get; set; } = Guid.NewGuid();

    public List<Grant> Grants { get; set; } = [];
}

public enum ConnectionKind
{
    Http = 0,
    Postgres = 1,
}

public enum TlsVerification
{
    /// <summary>Chain to the operating system's trusted roots, host name checked.</summary>
    SystemRoots = 0,
    /// <summary>Chain to the connection's own CA bundle, host name checked.</summary>
    CaBundle = 1,
    /// <summary>The backend must present exactly the pinned certificate.</summary>
    Pinned = 2,
    /// <summary>TLS without verification: set only by an admin, shown as a warning.</summary>
    Unverified = 3,
    /// <summary>No TLS to the backend at all: set only by an admin, shown as a warning.</summary>
    Plaintext = 4,
}

public enum CredentialKind
{
    None = 0,
    Bearer = 1,
    Basic = 2,
    Header = 3,
    ClientCertificate = 4,
    DatabasePassword = 5,
}

internal sealed class ConnectionConfiguration : IEntityTypeConfiguration<Connection>
{
    public void Configure(EntityTypeBuilder<Connection> b)
    {
        b.HasIndex(c => c.Name).IsUnique();
        b.Property(c => c.Name).HasMaxLength(63);
        b.Property(c => c.Address).HasMaxLength(2048);
        b.Property(c => c.CredentialName).HasMaxLength(256);
        b.Property(c => c.Version).IsConcurrencyToken();
    }
}
