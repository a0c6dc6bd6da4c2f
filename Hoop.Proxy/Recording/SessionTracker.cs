using System.Collections.Concurrent;
using Hoop.Data.Entities;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Microsoft.Extensions.Hosting;

namespace Hoop.Proxy.Recording;

/// <summary>
/// Live sessions: one per caller and connection, started by its first request and ended after it has been idle
/// for <see cref="RecordingOptions.SessionIdleTimeout"/> (or when Hoop stops).
/// </summary>
public sealed class SessionTracker(Recorder recorder, RecordingOptions options, PolicyStore policy, TimeProvider time) : BackgroundService
{
    // Lazy: GetOrAdd may run its factory twice under contention; the session must be started once.
    private readonly ConcurrentDictionary<(string Subject, Guid Connection), Lazy<LiveSession?>> _live = new();

    public int Count => _live.Count + _owned.Count;

    // Every session of this instance from its start until it is sealed, by id: what readers ask for while it is open.
    private readonly ConcurrentDictionary<Guid, LiveSession> _byId = new();

    /// <summary>
    /// The session, while it is open on this instance: its event count and masking counts are current here, while
    /// the stored record gets them when the session is sealed. Null once sealed, or when another instance serves it.
    /// </summary>
    public LiveSession? Find(Guid id) => _byId.GetValueOrDefault(id);

    /// <summary>
    /// The caller's live session on the connection, started (and its record queued) if there is none,
    /// marked busy until <see cref="LiveSession.Done"/>. Null when the session's record could not be queued.
    /// </summary>
    public LiveSession? Begin(Caller caller, ConnectionPolicy connection, string? clientAddress)
    {
        // By issuer and subject: two providers may issue the same sub, and they are not one caller.
        var key = (caller.Key, connection.Id);
        while (true)
        {
            var lazy = _live.GetOrAdd(key, _ => new Lazy<LiveSession?>(() => Start(caller, connection, clientAddress)));
            var session = lazy.Value;
            if (session is null)
            {
                // Its record was not queued (queue full): forget it, so a later request starts a proper one.
                _live.TryRemove(new KeyValuePair<(string, Guid), Lazy<LiveSession?>>(key, lazy));
                return null;
            }

            if (session.TryEnter(time.GetUtcNow()))
            {
                return session;
            }

            // Ended as idle between the lookup and now: its seal is on the way, so this request starts a new session.
            _live.TryRemove(new KeyValuePair<(string, Guid), Lazy<LiveSession?>>(key, lazy));
        }
    }

    // Sessions that last as long as one client connection (Postgres): ended by their connection, or when Hoop stops.
    private readonly ConcurrentDictionary<Guid, LiveSession> _owned = new();

    /// <summary>
    /// A session of its own for one client connection, ended by <see cref="End"/> with the reason; null when its
    /// record could not be queued.
    /// </summary>
    public LiveSession? StartOwn(Caller caller, ConnectionPolicy connection, string? clientAddress)
    {
        var session = Start(caller, connection, clientAddress);
        if (session is not null)
        {
            _owned[session.Id] = session;
        }

        return session;
    }

    /// <summary>Ends a session started with <see cref="StartOwn"/>, once.</summary>
    public void End(LiveSession session, string reason)
    {
        if (_owned.TryRemove(session.Id, out _))
        {
            session.Close();
            Seal(session, reason);
        }
    }

    // Ends whose record found the queue full: tried again at each tick, so every session is sealed while Hoop runs.
    private readonly ConcurrentQueue<(LiveSession Session, string Reason, DateTime At)> _unsealed = new();

    private void Seal(LiveSession session, string reason)
    {
        _byId.TryRemove(session.Id, out _);
        var at = time.GetUtcNow().UtcDateTime;
        if (!recorder.EnqueueSessionEnd(session.Id, reason, session.EventCount, session.MaskedJson(), at))
        {
            _unsealed.Enqueue((session, reason, at));
        }
    }

    private void SealLeftOver()
    {
        for (var n = _unsealed.Count; n > 0 && _unsealed.TryDequeue(out var end); n--)
        {
            if (!recorder.EnqueueSessionEnd(end.Session.Id, end.Reason, end.Session.EventCount, end.Session.MaskedJson(), end.At, retry: true))
            {
                _unsealed.Enqueue(end);
            }
        }
    }

    private LiveSession? Start(Caller caller, ConnectionPolicy connection, string? clientAddress)
    {
        var now = time.GetUtcNow();
        var live = new LiveSession(Guid.NewGuid(), now, time);
        _byId[live.Id] = live;
        var queued = recorder.Enqueue(new Session
        {
            Id = live.Id,
            ConnectionId = connection.Id,
            ConnectionName = connection.Name,
            Protocol = connection.Kind,
            Subject = caller.Subject,
            CallerKey = caller.Key,
            DisplayName = caller.DisplayName,
            Groups = [.. caller.Groups],
            ClientAddress = clientAddress,
            StartedAt = now.UtcDateTime,
            Status = SessionStatus.Open,
        });
        if (!queued)
        {
            _byId.TryRemove(live.Id, out _);
        }

        return queued ? live : null;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The timeout may change in the console while this runs: check often enough for a short one.
        var quarter = options.SessionIdleTimeout / 4;
        var interval = quarter < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : quarter > TimeSpan.FromSeconds(15) ? TimeSpan.FromSeconds(15) : quarter;
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                SealLeftOver();
                EndIdle(time.GetUtcNow() - policy.Current.Recording.SessionIdleTimeout);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        foreach (var (key, lazy) in _live)
        {
            if (_live.TryRemove(key, out _) && lazy.IsValueCreated && lazy.Value is { } session)
            {
                session.Close();
                Seal(session, "Hoop stopped.");
            }
        }

        foreach (var session in _owned.Values)
        {
            End(session, "Hoop stopped.");
        }

        SealLeftOver(); // Whatever still finds the queue full is marked interrupted at the next start.
    }

    /// <summary>Ends the sessions with nothing in flight and no request since before <paramref name="cutoff"/>.</summary>
    public void EndIdle(DateTimeOffset cutoff)
    {
        foreach (var pair in _live)
        {
            // Closed first, atomically with "nothing in flight": a request that found the session a moment ago cannot enter it now.
            if (pair.Value.IsValueCreated && pair.Value.Value is { } session && session.LastSeen < cutoff && session.TryCloseIdle())
            {
                _live.TryRemove(pair);
                Seal(session, "Idle.");
            }
        }
    }
}
