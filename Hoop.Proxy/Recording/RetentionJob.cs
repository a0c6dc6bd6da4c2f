using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Recording;

/// <summary>
/// Purges sessions older than their connection's retention period (Connection.RetentionDays; none: kept until
/// deleted), except those under legal hold. Small batches, each its own short transaction, so the recorder and
/// the data path never wait long; every batch is recorded in the (chained) audit log with what went.
/// </summary>
internal sealed partial class RetentionJob(IDbContextFactory<HoopDbContext> contexts, AuditLog audit, TimeProvider time, ILogger<RetentionJob> logger)
    : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromHours(1);
    private const int BatchSize = 100;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Periodic.RunAsync(Interval, time, PurgeAsync, LogPurgeFailed, stoppingToken);

    /// <summary>Purges every expired session now; returns how many sessions went.</summary>
    public async Task<int> PurgeAsync(CancellationToken cancellationToken)
    {
        List<(Guid Id, string Name, int Days)> connections;
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            connections = (await db.Connections.AsNoTracking().Where(c => c.RetentionDays != null)
                .Select(c => new { c.Id, c.Name, c.RetentionDays }).ToListAsync(cancellationToken))
                .Select(c => (c.Id, c.Name, c.RetentionDays!.Value)).ToList();
        }

        var purged = 0;
        foreach (var (id, name, days) in connections)
        {
            var cutoff = time.GetUtcNow().UtcDateTime.AddDays(-days);
            while (await PurgeBatchAsync(id, name, days, cutoff, cancellationToken) is var count and > 0)
            {
                purged += count;
                await Task.Delay(TimeSpan.FromMilliseconds(50), time, cancellationToken); // Room for the recorder between batches.
            }
        }

        return purged;
    }

    private async Task<int> PurgeBatchAsync(Guid connectionId, string connection, int days, DateTime cutoff, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var ids = await db.Sessions.AsNoTracking()
            .Where(s => s.ConnectionId == connectionId && !s.LegalHold && s.Status != SessionStatus.Open && s.EndedAt != null && s.EndedAt < cutoff)
            .OrderBy(s => s.StartedAt).Select(s => s.Id).Take(BatchSize).ToListAsync(cancellationToken);
        if (ids.Count == 0)
        {
            return 0;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        foreach (var id in ids)
        {
            // The search index goes with the events (by the ids of their rows and chunks, the indexes' row ids; ids stored as EF stores them).
            var session = id.ToString().ToUpperInvariant();
            await db.Database.ExecuteSqlAsync(
                $"DELETE FROM SessionEventSearch WHERE rowid IN (SELECT Id FROM SessionEvents WHERE SessionId = {session})", cancellationToken);
            await db.Database.ExecuteSqlAsync(
                $"DELETE FROM SessionChunkSearch WHERE rowid IN (SELECT Id FROM SessionChunks WHERE SessionId = {session})", cancellationToken);
        }

        var events = await db.SessionEvents.Where(e => ids.Contains(e.SessionId)).ExecuteDeleteAsync(cancellationToken)
            + await db.SessionChunks.Where(c => ids.Contains(c.SessionId)).SumAsync(c => c.Count, cancellationToken);
        await db.SessionChunks.Where(c => ids.Contains(c.SessionId)).ExecuteDeleteAsync(cancellationToken);
        await db.Sessions.Where(s => ids.Contains(s.Id)).ExecuteDeleteAsync(cancellationToken);
        db.AuditEvents.Add(audit.Create(AuditLog.System, "session.purged", connection, AuditOutcome.Success,
            new { retentionDays = days, endedBefore = cutoff, sessions = ids, events }));
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        LogPurged(ids.Count, events, connection);
        return ids.Count;
    }

    [LoggerMessage(7010, LogLevel.Information, "Retention purged {Sessions} sessions ({Events} events) of {Connection}")]
    private partial void LogPurged(int sessions, int events, string connection);

    [LoggerMessage(7011, LogLevel.Error, "Retention purge failed; it runs again within the hour")]
    private partial void LogPurgeFailed(Exception error);
}
