using System.Threading.Channels;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Records;
using Hoop.Data.Store;
using Hoop.Proxy.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Recording;

/// <summary>
/// The one writer of the data path's records (sessions, session events, audit events, API-key use).
/// Requests only enqueue; one background loop drains the bounded queue in batches, one transaction each,
/// so recording never adds a database round trip to a request.
/// </summary>
public sealed partial class Recorder(
    IDbContextFactory<HoopDbContext> contexts,
    RecordingOptions options,
    AuditLog audit,
    RecordSeal seal,
    ActivityFeed feed,
    TimeProvider time,
    ILogger<Recorder> logger) : BackgroundService
{
    /// <summary>Records per transaction at most: under load a batch of this many is written in a few milliseconds.</summary>
    public const int BatchSize = 2048;
    private static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(20);

    private readonly Channel<object> _queue = Channel.CreateBounded<object>(new BoundedChannelOptions(options.QueueCapacity)
    {
        // Wait mode so TryWrite reports a full queue and WaitForRoomAsync can wait for the writer to make room.
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = true,
    });

    private volatile bool _healthy = true;
    private long _dropped;
    private long _written;

    /// <summary>False while the writer is failing or the queue is full.</summary>
    private bool CanAccept => _healthy && _queue.Reader.Count < options.QueueCapacity;

    /// <summary>How long a request or query waits for room in a full queue before "no unrecorded access" refuses it.</summary>
    public static readonly TimeSpan RoomWait = TimeSpan.FromSeconds(2);

    /// <summary>
    /// True at once while the queue has room. When it is full but the writer is healthy, waits up to
    /// <paramref name="limit"/> for the writer to make room: a burst slows to the recorder's pace before anything is
    /// refused, instead of most of it being refused while the writer catches up.
    /// </summary>
    public async ValueTask<bool> WaitForRoomAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        if (CanAccept || !_healthy)
        {
            return _healthy;
        }

        using var timeout = new CancellationTokenSource(limit, time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            while (!CanAccept && _healthy && await _queue.Writer.WaitToWriteAsync(either.Token))
            {
                // Room appears a batch at a time; another request may have taken it first.
                await Task.Delay(TimeSpan.FromMilliseconds(1), time, either.Token);
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Still full: refused below.
        }

        return CanAccept;
    }

    public bool Healthy => _healthy;
    public long Dropped => Interlocked.Read(ref _dropped);
    public long Written => Interlocked.Read(ref _written);
    public int Pending => _queue.Reader.Count;

    public bool Enqueue(Session session) => TryWrite(session);
    public bool Enqueue(SessionEvent sessionEvent) => TryWrite(sessionEvent);
    public bool Enqueue(AuditEvent auditEvent) => TryWrite(auditEvent);
    /// <summary>Queues a session's end (<paramref name="at"/>: when it ended, now if not given); a retried end is not counted as lost again.</summary>
    public bool EnqueueSessionEnd(Guid sessionId, string reason, int eventCount, string? maskedValues, DateTime? at = null, bool retry = false)
    {
        var end = new SessionEnd(sessionId, at ?? time.GetUtcNow().UtcDateTime, reason, eventCount, maskedValues);
        return retry ? _queue.Writer.TryWrite(end) : TryWrite(end);
    }
    public bool EnqueueApiKeyUse(Guid keyId) => TryWrite(new ApiKeyUse(keyId, time.GetUtcNow().UtcDateTime));

    private bool TryWrite(object item)
    {
        if (_queue.Writer.TryWrite(item))
        {
            return true;
        }

        Interlocked.Increment(ref _dropped);
        return false;
    }

    /// <summary>Waits until everything enqueued so far is written (for shutdown and tests).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        while (!_queue.Writer.TryWrite(done))
        {
            await Task.Delay(10, cancellationToken);
        }

        await done.Task.WaitAsync(cancellationToken);
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // The signing key is loaded (or made) now: sealing happens inside the writer's transaction, where storing it would wait on itself.
        await seal.PublicKeyPemAsync(cancellationToken);
        await MarkInterruptedAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<object>(BatchSize);
        // Drains what is queued even after stop is requested; the queue completes when the host stops.
        while (await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            // Under load, a short pause lets a batch fill: one transaction per many records, not per few.
            if (_queue.Reader.Count < BatchSize && !stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(Linger, time, CancellationToken.None);
            }

            while (batch.Count < BatchSize && _queue.Reader.TryRead(out var item))
            {
                batch.Add(item);
            }

            await WriteWithRetryAsync(batch, stoppingToken);
            // Outside the write and its retries: what the pages do with it can never make a batch be written again.
            feed.Publish(new ActivityChange(batch.Select(item => item switch
            {
                Session s => s.Id,
                SessionEvent e => e.SessionId,
                SessionEnd end => end.SessionId,
                _ => Guid.Empty,
            }).Where(id => id != Guid.Empty).ToHashSet(), Reviews: false));
            batch.Clear();
        }
    }

    public override void Dispose()
    {
        _chunk.Dispose();
        base.Dispose();
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    private async Task WriteWithRetryAsync(List<object> batch, CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                await WriteAsync(batch);
                if (!_healthy)
                {
                    LogRecovered();
                }

                _healthy = true;
                return;
            }
            catch (Exception e) when (IsConstraintViolation(e))
            {
                // One record the store cannot take (an event whose session row was lost) must not block the rest:
                // write them one by one and drop, counted and logged, only the one that fails alone.
                if (batch.Count == 1)
                {
                    Interlocked.Increment(ref _dropped);
                    LogRecordRejected(batch[0].GetType().Name, e.GetBaseException().Message);
                    return;
                }

                foreach (var item in batch)
                {
                    await WriteWithRetryAsync([item], stoppingToken);
                }

                return;
            }
            catch (Exception e) when (e is DbUpdateException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
            {
                if (_healthy)
                {
                    LogWriteFailed(e);
                }

                _healthy = false;
                if (stoppingToken.IsCancellationRequested)
                {
                    Interlocked.Add(ref _dropped, batch.Count);
                    return;
                }

                // Keep the batch and try again: what was acknowledged to the queue is not given up while running.
                await Task.Delay(delay, time, CancellationToken.None);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5_000));
            }
        }
    }

    private static bool IsConstraintViolation(Exception e) =>
        e.GetBaseException() is Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 19 };

    // Each session's chain so far (events written, last hash): kept by the one writer, advanced only once a batch commits.
    private readonly Dictionary<Guid, (int Count, byte[] Last)> _chains = [];
    private readonly EventChunk.Writer _chunk = new();

    private (int Count, byte[] Last) ChainOf(Guid session, Dictionary<Guid, (int Count, byte[] Last)> pending) =>
        pending.TryGetValue(session, out var p) ? p : _chains.TryGetValue(session, out var c) ? c : (0, RecordChain.Genesis(session));

    private async Task WriteAsync(List<object> batch)
    {
        await using var db = await contexts.CreateDbContextAsync();
        db.ChangeTracker.AutoDetectChangesEnabled = false;
        await using var transaction = await db.Database.BeginTransactionAsync();
        _chunk.Reset(); // What a failed attempt appended.
        var events = new List<SessionEvent>(batch.Count);
        var flushed = new List<TaskCompletionSource>();
        var written = 0;
        foreach (var item in batch)
        {
            switch (item)
            {
                case AuditEvent retried when retried.Id != 0:
                    // A failed attempt gave it an id; a retry must let the store give it a new one.
                    retried.Id = 0;
                    db.AuditEvents.Add(retried);
                    written++;
                    break;
                case Session s: db.Sessions.Add(s); written++; break;
                case SessionEvent e: events.Add(e); break;
                case AuditEvent a: db.AuditEvents.Add(a); written++; break;
                case TaskCompletionSource t: flushed.Add(t); break;
            }
        }

        // Each event is linked to the one before it in its session (see RecordChain); a session's events of this
        // batch are stored in chunks of up to EventChunk.TargetBytes, each with one MAC over its last link.
        var chains = new Dictionary<Guid, (int Count, byte[] Last)>();
        var chunks = new List<SessionChunk>();
        foreach (var session in events.GroupBy(e => e.SessionId))
        {
            var (count, last) = ChainOf(session.Key, chains);
            foreach (var e in session)
            {
                if (_chunk.Length >= EventChunk.TargetBytes)
                {
                    chunks.Add(_chunk.Close(session.Key, seal.Mac(last)));
                }

                var hash = new byte[32];
                _chunk.Append(e, last, hash);
                (count, last) = (count + 1, hash);
            }

            chunks.Add(_chunk.Close(session.Key, seal.Mac(last)));
            chains[session.Key] = (count, last);
        }

        db.SessionChunks.AddRange(chunks);
        await db.SaveChangesAsync(); // Sessions before the chunks that refer to them: EF orders the inserts.
        written += events.Count;
        foreach (var item in batch)
        {
            switch (item)
            {
                case SessionEnd end:
                    // Sealed: the manifest (id, events chained, last hash) signed, so no event can be added or taken later.
                    var (count, last) = ChainOf(end.SessionId, chains);
                    var finalHash = RecordChain.Hex(last);
                    var who = await db.Sessions.AsNoTracking().Where(s => s.Id == end.SessionId)
                        .Select(s => new { s.Subject, s.ConnectionName, s.StartedAt }).FirstOrDefaultAsync();
                    if (who is null)
                    {
                        break; // Its record was never written (queue full at its start): nothing to seal.
                    }

                    var signature = await SealAsync(db, end.SessionId, who.Subject, who.ConnectionName, who.StartedAt, count, finalHash, CancellationToken.None);
                    await db.SaveChangesAsync();
                    await db.Sessions.Where(s => s.Id == end.SessionId).ExecuteUpdateAsync(u => u
                        .SetProperty(s => s.Status, SessionStatus.Closed)
                        .SetProperty(s => s.EndedAt, end.At)
                        .SetProperty(s => s.EndReason, end.Reason)
                        .SetProperty(s => s.EventCount, count)
                        .SetProperty(s => s.MaskedValues, end.MaskedValues)
                        .SetProperty(s => s.FinalHash, finalHash)
                        .SetProperty(s => s.Signature, signature));
                    chains[end.SessionId] = (-1, last);
                    written++;
                    break;
                case ApiKeyUse use:
                    await db.ApiKeys.Where(k => k.Id == use.KeyId).ExecuteUpdateAsync(u => u.SetProperty(k => k.LastUsedAt, use.At));
                    written++;
                    break;
            }
        }

        await transaction.CommitAsync();
        foreach (var (session, chain) in chains)
        {
            if (chain.Count < 0)
            {
                _chains.Remove(session); // Sealed: nothing more comes.
            }
            else
            {
                _chains[session] = chain;
            }
        }

        Interlocked.Add(ref _written, written);
        flushed.ForEach(t => t.TrySetResult());
    }

    /// <summary>
    /// Signs a session's manifest (id, agent, connection, start, events chained, last hash) and records the seal in
    /// the audit chain too, so a seal removed from the session row (to hide its last events) is found.
    /// </summary>
    private async Task<string> SealAsync(HoopDbContext db, Guid id, string subject, string connection, DateTime startedAt, int events, string finalHash,
        CancellationToken cancellationToken)
    {
        var signature = await seal.SignAsync(RecordChain.Manifest(id, subject, connection, startedAt, events, finalHash), cancellationToken);
        db.AuditEvents.Add(audit.Create(AuditLog.System, "session.sealed", id.ToString(), AuditOutcome.Success, new { events, finalHash }));
        return signature;
    }

    /// <summary>Sessions still open at start were cut off by a crash: they are marked so, not silently closed.</summary>
    private async Task MarkInterruptedAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var open = await db.Sessions.Where(s => s.Status == SessionStatus.Open).ToListAsync(cancellationToken);
        foreach (var session in open)
        {
            var id = session.Id.ToString();
            if (session.Signature is not null || await db.AuditEvents.AnyAsync(a => a.Action == "session.sealed" && a.Target == id, cancellationToken))
            {
                // Sealed once already: an "open" session with a seal on record was changed in the store; it is not sealed again.
                session.Status = SessionStatus.Interrupted;
                db.AuditEvents.Add(audit.Create(AuditLog.System, "session.seal-refused", id, AuditOutcome.Failed,
                    new { reason = "the session was sealed before; it was reopened in the store" }));
                continue;
            }

            session.Status = SessionStatus.Interrupted;
            session.EndedAt = now;
            session.EndReason = "Hoop stopped without closing the session (crash or kill).";
            session.EventCount = (await RecordedEvents.CountsAsync(db, [session.Id], cancellationToken)).GetValueOrDefault(session.Id);
            // Sealed as found: what the crash left is what the seal vouches for from now on.
            session.FinalHash = await RecordedEvents.LastHashAsync(db, session.Id, cancellationToken) ?? RecordChain.Hex(RecordChain.Genesis(session.Id));
            session.Signature = await SealAsync(db, session.Id, session.Subject, session.ConnectionName, session.StartedAt, session.EventCount, session.FinalHash,
                cancellationToken);
            db.AuditEvents.Add(audit.Create(AuditLog.System, "session.interrupted", session.Id.ToString(), AuditOutcome.Failed,
                new { events = session.EventCount }));
        }

        await db.SaveChangesAsync(cancellationToken);
    }

    private sealed record SessionEnd(Guid SessionId, DateTime At, string Reason, int EventCount, string? MaskedValues);

    private sealed record ApiKeyUse(Guid KeyId, DateTime At);

    [LoggerMessage(7001, LogLevel.Error, "Recording writer failed; retrying, and refusing requests that need recording until it recovers")]
    private partial void LogWriteFailed(Exception error);

    [LoggerMessage(7003, LogLevel.Error, "A {Record} record was rejected by the store and dropped: {Reason}")]
    private partial void LogRecordRejected(string record, string reason);

    [LoggerMessage(7002, LogLevel.Information, "Recording writer recovered")]
    private partial void LogRecovered();
}
