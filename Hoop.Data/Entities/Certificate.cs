using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Hoop.Data.Entities;

/// <summary>An inbound certificate Hoop serves or has served, with its encrypted private key.</summary>
public sealed class Certificate
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public CertificateSource Source { get; set; }
    public List<string> HostNames { get; set; } = [];
    public required string Subject { get; set; }
    public required string Issuer { get; set; }
    public required string Thumbprint { get; set; }
    public required string SerialNumber { get; set; }
    public required string KeyType { get; set; }
    public DateTime NotBefore { get; set; }
    public DateTime NotAfter { get; set; }

    /// <summary>The PFX (chain and key), encrypted with <see cref="Secrets.SecretProtector"/>.</summary>
    public required string ProtectedPfx { get; set; }

    /// <summary>Exactly one certificate is current: the one every TLS port serves.</summary>
    public bool IsCurrent { get; set; }

    public DateTime CreatedAt { get; set; }
    public DateTime? ReplacedAt { get; set; }
}

public enum CertificateSource
{
    SelfSigned = 0,
    Acme = 1,
    Uploaded = 2,
}

/// <summary>Hoop's account at an ACME server.</summary>
public sealed class AcmeAccount
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string DirectoryUrl { get; set; }
    public string? AccountUrl { get; set; }
    public string? Email { get; set; }

    /// <summary>The account's ES256 key, PKCS#8, encrypted.</summary>
    public required string ProtectedKey { get; set; }

    public DateTime CreatedAt { get; set; }
}

internal sealed class CertificateConfiguration : IEntityTypeConfiguration<Certificate>, IEntityTypeConfiguration<AcmeAccount>
{
    public void Configure(EntityTypeBuilder<Certificate> b)
    {
        b.HasIndex(c => c.IsCurrent);
        b.HasIndex(c => c.Thumbprint);
        b.Property(c => c.Thumbprint).HasMaxLength(128);
    }

    public void Configure(EntityTypeBuilder<AcmeAccount> b)
    {
        b.HasIndex(a => a.DirectoryUrl).IsUnique();
    }
}
