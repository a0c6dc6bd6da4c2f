using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Hoop.Data.Entities;

/// <summary>An OIDC group claim value, the Hoop roles it carries and the connections it may use.</summary>
public sealed class Group : IVersioned
{
    public Guid Id { get; set; } = Guid.NewGuid();

    /// <summary>The value as it appears in the token's groups claim.</summary>
    public required string Name { get; set; }

    public Roles Roles { get; set; }

    /// <summary>
    /// The issuer (its URL) whose tokens may claim this group; null for any registered issuer. With more than one
    /// provider, bind groups that carry roles: another provider could put the same name in its groups claim.
    /// </summary>
    public string? Issuer { get; set; }

    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public Guid Version { get; set; } = Guid.NewGuid();

    public List<Grant> Grants { get; set; } = [];
}

[Flags]
public enum Roles
{
    None = 0,
    Admin = 1,
    Reviewer = 2,
    Auditor = 4,
}

/// <summary>A group may use a connection.</summary>
public sealed class Grant
{
    public Guid GroupId { get; set; }
    public Group? Group { get; set; }
    public Guid ConnectionId { get; set; }
    public Connection? Connection { get; set; }
    public DateTime CreatedAt { get; set; }
}

internal sealed class GroupConfiguration : IEntityTypeConfiguration<Group>, IEntityTypeConfiguration<Grant>
{
    public void Configure(EntityTypeBuilder<Group> b)
    {
        b.HasIndex(g => g.Name).IsUnique();
        b.Property(g => g.Name).HasMaxLength(256);
        b.Property(g => g.Version).IsConcurrencyToken();
        b.Property(g => g.Issuer).HasMaxLength(512);
    }

    public void Configure(EntityTypeBuilder<Grant> b)
    {
        b.HasKey(g => new { g.GroupId, g.ConnectionId });
        b.HasOne(g => g.Group).WithMany(g => g.Grants).HasForeignKey(g => g.GroupId).OnDelete(DeleteBehavior.Cascade);
        b.HasOne(g => g.Connection).WithMany(c => c.Grants).HasForeignKey(g => g.ConnectionId).OnDelete(DeleteBehavior.Cascade);
    }
}
