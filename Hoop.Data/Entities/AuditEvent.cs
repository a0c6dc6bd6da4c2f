using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Hoop.Data.Entities;

/// <summary>A decision on the data path or a change made by a person: who, what, to what, and how it ended.</summary>
public sealed class AuditEvent
{
    public long Id { get; set; }
    public DateTime At { get; set; }

    /// <summary>"admin (break-glass)", a token subject, "api-key:name", or "system".</summary>
    public required string Actor { get; set; }

    /// <summary>Dotted verb: "console.login", "connection.update", "proxy.denied".</summary>
    public required string Action { get; set; }

    public string? Target { get; set; }
    public AuditOutcome Outcome { get; set; }

    /// <summary>JSON with before/after or the reason. Never a secret.</summary>
    public string? Details { get; set; }

    /// <summary>SHA-256 (hex) of the previous event's hash and this event: the audit log's chain, added within a second of the write.</summary>
    public string? Hash { get; set; }

    /// <summary>HMAC-SHA256 (hex) of <see cref="Hash"/> under a key derived from the master key.</summary>
    public string? Mac { get; set; }
}

public enum AuditOutcome
{
    Success = 0,
    Denied = 1,
    Failed = 2,
}

internal sealed class AuditEventConfiguration : IEntityTypeConfiguration<AuditEvent>
{
    public void Configure(EntityTypeBuilder<AuditEvent> b)
    {
        b.HasIndex(a => a.At);
        b.HasIndex(a => new { a.Action, a.At });
        b.Property(a => a.Actor).HasMaxLength(256);
        b.Property(a => a.Action).HasMaxLength(64);
    }
}
