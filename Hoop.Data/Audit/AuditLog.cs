using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Data.Audit;

/// <summary>Writes audit events: every decision and every change, with who made it.</summary>
public sealed class AuditLog(IDbContextFactory<HoopDbContext> contexts, TimeProvider time)
{
    public const string System = "system";

    /// <summary>Records an event. <paramref name="details"/> is serialized as JSON; it must never contain a secret.</summary>
    public async Task WriteAsync(string actor, string action, string? target, AuditOutcome outcome, object? details = null, CancellationToken cancellationToken = default)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken).ConfigureAwait(false);
        db.AuditEvents.Add(Create(actor, action, target, outcome, details));
        await db.SaveChangesAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>An event to add in the caller's own transaction, so the change and its audit commit together.</summary>
    public AuditEvent Create(string actor, string action, string? target, AuditOutcome outcome, object? details = null) => new()
    {
        At = time.GetUtcNow().UtcDateTime,
        Actor = actor,
        Action = action,
        Target = target,
        Outcome = outcome,
        Details = details is null ? null : JsonSerializer.Serialize(details, JsonOptions),
    };

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
