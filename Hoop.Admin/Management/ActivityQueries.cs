using Hoop.Data.Entities;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>What happened: sessions with their recorded events, and the audit log. Read-only, for admins and auditors.</summary>
public sealed class ActivityQueries(IDbContextFactory<HoopDbContext> contexts)
{
    public const int MaxRows = 500;

    /// <summary>Newest first; <paramref name="text"/> matches part of the connection name, the agent's subject or its display name.</summary>
    public async Task<List<Session>> SessionsAsync(string? text, int limit, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.Sessions.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(text))
        {
            var t = text.Trim();
            query = query.Where(s => s.ConnectionName.Contains(t) || s.Subject.Contains(t) || (s.DisplayName != null && s.DisplayName.Contains(t)));
        }

        return await query.OrderByDescending(s => s.StartedAt).Take(Math.Clamp(limit, 1, MaxRows)).ToListAsync(cancellationToken);
    }

    public async Task<(Session Session, List<SessionEvent> Events)?> SessionAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var session = await db.Sessions.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, cancellationToken);
        if (session is null)
        {
            return null;
        }

        var events = await db.SessionEvents.AsNoTracking().Where(e => e.SessionId == id).OrderBy(e => e.Sequence).Take(MaxRows).ToListAsync(cancellationToken);
        return (session, events);
    }

    /// <summary>Newest first; <paramref name="text"/> matches part of the actor, the action or the target.</summary>
    public async Task<List<AuditEvent>> AuditAsync(string? text, AuditOutcome? outcome, int limit, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.AuditEvents.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(text))
        {
            var t = text.Trim();
            query = query.Where(a => a.Actor.Contains(t) || a.Action.Contains(t) || (a.Target != null && a.Target.Contains(t)));
        }

        if (outcome is { } o)
        {
            query = query.Where(a => a.Outcome == o);
        }

        return await query.OrderByDescending(a => a.Id).Take(Math.Clamp(limit, 1, MaxRows)).ToListAsync(cancellationToken);
    }
}
