using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Hoop.Data.Entities;

/// <summary>
/// An OIDC provider registered in the console: agents' access tokens from it are accepted on the proxy port,
/// and, when it has a client id, people sign in to the console with it.
/// </summary>
public sealed class IdentityIssuer : IVersioned
{
    public Guid Id { get; set; } = Guid.NewGuid();

    /// <summary>Shown on the sign-in button.</summary>
    public required string DisplayName { get; set; }

    /// <summary>The issuer URL, exactly as in tokens' iss claim.</summary>
    public required string Authority { get; set; }

    /// <summary>The aud value agents' access tokens must carry.</summary>
    public required string Audience { get; set; }

    public string GroupsClaim { get; set; } = "groups";

    /// <summary>The console's client at the provider (code flow); none means agents only, no console sign-in.</summary>
    public string? ClientId { get; set; }

    /// <summary>The client secret, encrypted with Data Protection; write-only in the console.</summary>
    public string? ProtectedClientSecret { get; set; }

    public DateTime? ClientSecretChangedAt { get; set; }

    /// <summary>Only for a provider on loopback in development: discovery over plain http.</summary>
    public bool RequireHttpsMetadata { get; set; } = true;

    /// <summary>PEM roots that the provider's TLS certificate is checked against (a private CA); null: the system's roots.</summary>
    public string? CaBundlePem { get; set; }

    public DateTime CreatedAt { get; set; }
    public Guid Version { get; set; } = Guid.NewGuid();
}

internal sealed class IdentityIssuerConfiguration : IEntityTypeConfiguration<IdentityIssuer>
{
    public void Configure(EntityTypeBuilder<IdentityIssuer> b)
    {
        b.HasIndex(i => i.Authority).IsUnique();
        b.Property(i => i.Authority).HasMaxLength(512);
        b.Property(i => i.DisplayName).HasMaxLength(128);
        b.Property(i => i.Audience).HasMaxLength(512);
        b.Property(i => i.GroupsClaim).HasMaxLength(128);
        b.Property(i => i.ClientId).HasMaxLength(256);
        b.Property(i => i.Version).IsConcurrencyToken();
    }
}
