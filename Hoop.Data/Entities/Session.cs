using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Hoop.Data.Entities;

/// <summary>One caller's use of one connection, from first request to close.</summary>
public sealed class Session
{
    public Guid Id { get; set; } = Guid.NewGuid();

    /// <summary>Kept by id and by name: the connection may be renamed or deleted, the record stays readable.</summary>
    public Guid ConnectionId { get; set; }
    public required string ConnectionName { get; set; }

    public ConnectionKind Protocol { get; set; }
    public required string Subject { get; set; }

    /// <summary>
    /// Who the caller is across identity providers (<c>issuer#subject</c>, or <c>api-key:id</c>): what a person
    /// signed in to the console is matched by when an admin lets users see their own sessions.
    /// </summary>
    public string? CallerKey { get; set; }

    public string? DisplayName { get; set; }
    public List<string> Groups { get; set; } = [];
    public string? ClientAddress { get; set; }
    public DateTime StartedAt { get; set; }
    public DateTime? EndedAt { get; set; }
    public SessionStatus Status { get; set; }
    public string? EndReason { get; set; }
    public int EventCount { get; set; }

    /// <summary>How many values each masking detector replaced over the session, as JSON ({"email": 3}); null when none.</summary>
    public string? MaskedValues { get; set; }

    public bool LegalHold { get; set; }

    /// <summary>The hash of the last event when the session was sealed (see <see cref="Audit.RecordChain"/>).</summary>
    public string? FinalHash { get; set; }

    /// <summary>Hoop's ECDSA signature (base64) over the session's manifest: id, event count, final hash.</summary>
    public string? Signature { get; set; }
}

public enum SessionStatus
{
    Open = 0,
    Closed = 1,
    /// <summary>Left open by a crash and found so at the next start.</summary>
    Interrupted = 2,
}

/// <summary>One recorded step of a session: an HTTP exchange, a query, a result, a denial, a hold.</summary>
public sealed class SessionEvent
{
    public long Id { get; set; }
    public Guid SessionId { get; set; }
    public int Sequence { get; set; }
    public DateTime At { get; set; }
    public required string Kind { get; set; }

    /// <summary>One line for lists: "GET /v1/models 200", "SELECT ... (12 rows)".</summary>
    public required string Summary { get; set; }

    /// <summary>The full event as JSON, masked as stored. Never holds a credential.</summary>
    public required string Content { get; set; }

    public long DurationMicroseconds { get; set; }

    /// <summary>
    /// What the replay's timeline marks and the outcome filter finds, set from the content when the event is
    /// recorded so neither has to read every event's content. The content, which the chain covers, is the record.
    /// </summary>
    public EventMarks Marks { get; set; }

    /// <summary>SHA-256 (hex) of the previous event's hash and this event's content: the session's chain.</summary>
    public string? Hash { get; set; }

    /// <summary>
    /// How <see cref="Hash"/> links: 1 for event rows (a canonical JSON array), 2 for events read from a
    /// <see cref="SessionChunk"/> (the event's frame). Not stored: a row is always 1.
    /// </summary>
    [System.ComponentModel.DataAnnotations.Schema.NotMapped]
    public int Chain { get; set; } = 1;

    /// <summary>HMAC-SHA256 (hex) of <see cref="Hash"/> under a key derived from the master key, which the store does not hold.</summary>
    public string? Mac { get; set; }
}

/// <summary>What an event's timeline marker shows: what it holds besides its kind, and (as its kind says too) whether a guardrail stopped it.</summary>
[Flags]
public enum EventMarks
{
    None = 0,
    /// <summary>Values were masked in it.</summary>
    Masked = 1,
    /// <summary>It failed: Hoop or the backend reported an error.</summary>
    Error = 2,
    /// <summary>It ran on a reviewer's approval (the content names the reviews).</summary>
    Approved = 4,
    /// <summary>A deny rule stopped it (its kind ends in "-denied").</summary>
    Denied = 8,
    /// <summary>A review held it (its kind ends in "-held").</summary>
    Held = 16,
}

internal sealed class SessionConfiguration : IEntityTypeConfiguration<Session>, IEntityTypeConfiguration<SessionEvent>, IEntityTypeConfiguration<SessionChunk>
{
    public void Configure(EntityTypeBuilder<Session> b)
    {
        b.HasIndex(s => s.StartedAt);
        b.HasIndex(s => new { s.Status, s.StartedAt });
        b.HasIndex(s => new { s.ConnectionId, s.StartedAt });
        b.Property(s => s.ConnectionName).HasMaxLength(63);
        b.Property(s => s.Subject).HasMaxLength(256);
        b.Property(s => s.CallerKey).HasMaxLength(600);
        b.HasIndex(s => new { s.CallerKey, s.StartedAt });
    }

    public void Configure(EntityTypeBuilder<SessionEvent> b)
    {
        b.HasIndex(e => new { e.SessionId, e.Sequence }).IsUnique();
        // The few events a replay's timeline marks, found without reading the rest of the session.
        b.HasIndex(e => new { e.SessionId, e.Sequence }, "IX_SessionEvents_Marked").HasFilter("\"Marks\" <> 0");
        b.HasIndex(e => e.At); // The dashboard's last 24 hours, for events written before chunks.
        b.Property(e => e.Kind).HasMaxLength(32);
        b.HasOne<Session>().WithMany().HasForeignKey(e => e.SessionId).OnDelete(DeleteBehavior.Cascade);
    }

    public void Configure(EntityTypeBuilder<SessionChunk> b)
    {
        b.HasIndex(c => new { c.SessionId, c.FirstSequence }).IsUnique();
        b.HasIndex(c => c.FirstAt); // The dashboard's last 24 hours.
        b.HasOne<Session>().WithMany().HasForeignKey(c => c.SessionId).OnDelete(DeleteBehavior.Cascade);
    }
}
