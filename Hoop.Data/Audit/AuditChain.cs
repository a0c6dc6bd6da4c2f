using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;

namespace Hoop.Data.Audit;

/// <summary>
/// Chains the audit log: audit events are written from many places, each in its own transaction, so their hashes
/// are added here, in the order of their ids, within a second of the write. The head (last id and hash, with
/// its MAC) is kept apart, so removing the newest events is seen too.
/// </summary>
public sealed class AuditChain(IDbContextFactory<HoopDbContext> contexts, RecordSeal seal, TimeProvider time) : BackgroundService
{
    public const string HeadSetting = "audit.chain-head";
    private readonly SemaphoreSlim _running = new(1, 1);

    // A failure waits for the next tick, so nothing is chained out of order; tampering found here is what Verify reports.
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Periodic.RunAsync(TimeSpan.FromSeconds(1), time, ChainAsync, _ => { }, stoppingToken);

    /// <summary>Chains every audit event written so far.</summary>
    public async Task ChainAsync(CancellationToken cancellationToken)
    {
        await _running.WaitAsync(cancellationToken);
        try
        {
            while (await ChainBatchAsync(cancellationToken))
            {
            }
        }
        finally
        {
            _running.Release();
        }
    }

    private async Task<bool> ChainBatchAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // New events chain onto the recorded head, not onto whatever is last in the table now: if the newest
        // events were removed, the first new one then breaks the chain where they were.
        var head = await HeadAsync(db, cancellationToken);
        var after = head?.Id ?? 0;
        // Hoop never hashes again what it hashed once: rows past the head that carry hashes, or hashes with no head,
        // were written outside Hoop, and signing them now would launder them.
        if (await db.AuditEvents.AnyAsync(a => a.Id > after && a.Hash != null, cancellationToken))
        {
            throw new InvalidDataException(head is null
                ? "the record of where the audit chain ends was removed"
                : "audit events past the chain's end carry hashes Hoop did not give them");
        }

        var batch = await db.AuditEvents.Where(a => a.Id > after).OrderBy(a => a.Id).Take(500).ToListAsync(cancellationToken);
        if (batch.Count == 0)
        {
            return false;
        }

        var previous = head is { } h ? Convert.FromHexString(h.Hash) : RecordChain.AuditGenesis;
        foreach (var a in batch)
        {
            var hash = RecordChain.Link(previous, a);
            a.Hash = RecordChain.Hex(hash);
            a.Mac = seal.Mac(hash);
            previous = hash;
        }

        var newHead = $"{batch[^1].Id}:{batch[^1].Hash}";
        await db.PutSettingAsync(HeadSetting, $"{newHead}:{seal.Mac(newHead)}", time.GetUtcNow().UtcDateTime, cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        return batch.Count == 500;
    }

    /// <summary>Where the chain ends, as last recorded (its MAC checked), or null before the first event.</summary>
    private async Task<(long Id, string Hash)?> HeadAsync(HoopDbContext db, CancellationToken cancellationToken)
    {
        var stored = await db.Settings.AsNoTracking().Where(s => s.Key == HeadSetting).Select(s => s.Value).FirstOrDefaultAsync(cancellationToken);
        if (stored is null)
        {
            return null;
        }

        if (stored.Split(':') is not [var id, var hash, var mac] || seal.Mac($"{id}:{hash}") != mac)
        {
            throw new InvalidDataException("the record of where the audit chain ends was changed outside Hoop");
        }

        return (long.Parse(id, System.Globalization.CultureInfo.InvariantCulture), hash);
    }

    /// <summary>Recomputes the whole audit chain (while the chainer waits, so it does not move the end meanwhile).</summary>
    public async Task<ChainReport> VerifyAsync(CancellationToken cancellationToken)
    {
        await _running.WaitAsync(cancellationToken);
        try
        {
            return await VerifyChainAsync(cancellationToken);
        }
        finally
        {
            _running.Release();
        }
    }

    private async Task<ChainReport> VerifyChainAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        (long Id, string Hash)? head;
        try
        {
            head = await HeadAsync(db, cancellationToken);
        }
        catch (InvalidDataException e)
        {
            return ChainReport.Broken(0, e.Message);
        }

        if (head is null && await db.AuditEvents.AnyAsync(a => a.Hash != null, cancellationToken))
        {
            return ChainReport.Broken(0, "the record of where the audit chain ends was removed");
        }

        var events = await db.AuditEvents.AsNoTracking().Where(a => a.Hash != null).OrderBy(a => a.Id).ToListAsync(cancellationToken);
        return ChainVerifier.Audit(events, h => seal.Mac(h), head);
    }
}
