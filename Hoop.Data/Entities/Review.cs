using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Hoop.Data.Entities;

/// <summary>A held request waiting for (or decided by) reviewers: a just-in-time approval.</summary>
public sealed class Review : IVersioned
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid ConnectionId { get; set; }
    public required string ConnectionName { get; set; }
    public Guid? RuleId { get; set; }
    public required string RuleName { get; set; }

    /// <summary>The group whose reviewers decide (from the rule when the request was held); null: any reviewer.</summary>
    public string? ReviewerGroup { get; set; }
    public Guid? SessionId { get; set; }

    /// <summary>Who asked: the issuer and subject of their token, or their API key's id; and their display name.</summary>
    public required string RequestedBy { get; set; }
    public string? RequestedByName { get; set; }

    /// <summary>What exactly was asked, masked as recordings are.</summary>
    public required string Request { get; set; }

    /// <summary>Hash of the canonical request, so an approval "once" matches only the identical request.</summary>
    public required string Fingerprint { get; set; }

    public string? Justification { get; set; }
    public ReviewStatus Status { get; set; }
    public ReviewScope Scope { get; set; }
    public int RequiredApprovals { get; set; } = 1;
    public DateTime CreatedAt { get; set; }
    public DateTime ExpiresAt { get; set; }
    public DateTime? DecidedAt { get; set; }

    /// <summary>End of the approval window when <see cref="Scope"/> is Window.</summary>
    public DateTime? WindowEndsAt { get; set; }

    /// <summary>Set when a "once" approval has been used.</summary>
    public DateTime? ConsumedAt { get; set; }

    public Guid Version { get; set; } = Guid.NewGuid();
    public List<ReviewDecision> Decisions { get; set; } = [];
}

public enum ReviewStatus
{
    Pending = 0,
    Approved = 1,
    Rejected = 2,
    Expired = 3,
}

public enum ReviewScope
{
    Once = 0,
    Window = 1,
}

/// <summary>One reviewer's vote on a review.</summary>
public sealed class ReviewDecision
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid ReviewId { get; set; }
    public required string Reviewer { get; set; }
    public bool Approved { get; set; }
    public string? Reason { get; set; }
    public DateTime At { get; set; }
}

internal sealed class ReviewConfiguration : IEntityTypeConfiguration<Review>, IEntityTypeConfiguration<ReviewDecision>
{
    public void Configure(EntityTypeBuilder<Review> b)
    {
        b.HasIndex(r => new { r.Status, r.CreatedAt });
        b.HasIndex(r => r.Fingerprint);
        b.Property(r => r.Version).IsConcurrencyToken();
        b.HasOne<Connection>().WithMany().HasForeignKey(r => r.ConnectionId).OnDelete(DeleteBehavior.Cascade);
        b.HasMany(r => r.Decisions).WithOne().HasForeignKey(d => d.ReviewId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<ReviewDecision> b)
    {
        b.HasIndex(d => new { d.ReviewId, d.Reviewer }).IsUnique();
    }
}
