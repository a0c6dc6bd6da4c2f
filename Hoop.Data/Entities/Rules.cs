using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Hoop.Data.Entities;

/// <summary>What to find in traffic, how to mask it, and in which directions.</summary>
public sealed class MaskingRule : IVersioned
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string Name { get; set; }

    /// <summary>A built-in detector name (email, card, ssn, ...) or regex, words, json-field, column.</summary>
    public required string Detector { get; set; }

    /// <summary>The detector's argument: the regex, the word list, the JSON path, or the column name.</summary>
    public string? Pattern { get; set; }

    public MaskStyle Style { get; set; }

    /// <summary>Characters kept at the end with <see cref="MaskStyle.Partial"/>.</summary>
    public int KeepLast { get; set; }

    public MaskDirections Directions { get; set; } = MaskDirections.Response | MaskDirections.Recording;

    /// <summary>Limits the rule to one connection; null applies it everywhere.</summary>
    public Guid? ConnectionId { get; set; }

    /// <summary>Limits the rule to callers in one group; null applies it to everyone.</summary>
    public Guid? GroupId { get; set; }

    public bool Enabled { get; set; } = true;
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public Guid Version { get; set; } = Guid.NewGuid();
}

public enum MaskStyle
{
    Redact = 0,
    Partial = 1,
    Pseudonym = 2,
}

[Flags]
public enum MaskDirections
{
    None = 0,
    Request = 1,
    Response = 2,
    Recording = 4,
}

/// <summary>A request or SQL pattern that is denied or needs a review.</summary>
public sealed class GuardrailRule : IVersioned
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string Name { get; set; }
    public GuardrailProtocol Protocol { get; set; }

    /// <summary>HTTP: method to match (null for any).</summary>
    public string? HttpMethod { get; set; }

    /// <summary>HTTP: path pattern ('*' one segment, '**' any number); SQL: statement text pattern (regex).</summary>
    public string? Pattern { get; set; }

    /// <summary>HTTP: a request header that must be present, and optionally a regex its value must match.</summary>
    public string? HeaderName { get; set; }
    public string? HeaderPattern { get; set; }

    /// <summary>HTTP: a regex the request body must match.</summary>
    public string? BodyPattern { get; set; }

    /// <summary>SQL: statement kinds found by the lexer (DROP, TRUNCATE, DELETE-WITHOUT-WHERE, ...).</summary>
    public List<string> SqlKinds { get; set; } = [];

    public GuardrailAction Action { get; set; }

    /// <summary>Shown to the agent when the rule fires.</summary>
    public required string Message { get; set; }

    /// <summary>The group whose reviewers decide, for <see cref="GuardrailAction.Review"/>.</summary>
    public Guid? ReviewerGroupId { get; set; }

    public int MinApprovals { get; set; } = 1;
    public Guid? ConnectionId { get; set; }
    public bool Enabled { get; set; } = true;
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public Guid Version { get; set; } = Guid.NewGuid();
}

public enum GuardrailProtocol
{
    Http = 0,
    Sql = 1,
}

public enum GuardrailAction
{
    Deny = 0,
    Review = 1,
}

internal sealed class RuleConfiguration : IEntityTypeConfiguration<MaskingRule>, IEntityTypeConfiguration<GuardrailRule>
{
    public void Configure(EntityTypeBuilder<MaskingRule> b)
    {
        b.HasIndex(r => r.Name).IsUnique();
        b.Property(r => r.Name).HasMaxLength(128);
        b.Property(r => r.Detector).HasMaxLength(64);
        b.Property(r => r.Version).IsConcurrencyToken();
        b.HasOne<Connection>().WithMany().HasForeignKey(r => r.ConnectionId).OnDelete(DeleteBehavior.Cascade);
        b.HasOne<Group>().WithMany().HasForeignKey(r => r.GroupId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<GuardrailRule> b)
    {
        b.HasIndex(r => r.Name).IsUnique();
        b.Property(r => r.Name).HasMaxLength(128);
        b.Property(r => r.HttpMethod).HasMaxLength(16);
        b.Property(r => r.Version).IsConcurrencyToken();
        b.HasOne<Connection>().WithMany().HasForeignKey(r => r.ConnectionId).OnDelete(DeleteBehavior.Cascade);
        b.HasOne<Group>().WithMany().HasForeignKey(r => r.ReviewerGroupId).OnDelete(DeleteBehavior.SetNull);
    }
}
