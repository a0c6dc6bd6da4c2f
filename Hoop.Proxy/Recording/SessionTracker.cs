using System.Collections.Concurrent;
using Hoop.Data.Entities;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Policy;
using Microsoft.Extensions.Hosting;

namespace Hoop.Proxy.Recording;

/// <summary>
/// Live sessions: one per caller and connection, started by its first request and ended after it has been idle
/// for <see cref="RecordingOptions.SessionIdleTimeout"/> (or when Hoop stops).
/// </summary>
public sealed class SessionTracker(Recorder recorder, RecordingOptions options, TimeProvider time) : BackgroundService
{
    private readonly ConcurrentDictionary<(string Subject, Guid Connection), LiveSession> _live = new();

    public int Count => _live.Count;

    public LiveSession Touch(Caller caller, ConnectionPolicy connection, string? clientAddress)
    {
        var now = time.GetUtcNow();
        var session = _live.GetOrAdd((caller.Subject, connection.Id), static (key, state) =>
        {
            var (recorder, caller, connection, clientAddress, now) = state;
            var live = new LiveSession(Guid.NewGuid(), now);
            recorder.Enqueue(new Session
            {
                Id = live.Id,
                ConnectionId = connection.Id,
                ConnectionName = connection.Name,
                Protocol = connection.Kind,
                Subject = caller.Subject,
                DisplayName = caller.DisplayName,
                Groups = [.. caller.Groups],
                ClientAddress = clientAddress,
                StartedAt = now.UtcDateTime,
                Status = SessionStatus.Open,
            });
            return live;
        }, (recorder, caller, connection, clientAddress, now));
        session.LastSeen = now;
        return session;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.SessionIdleTimeout / 4 < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : options.SessionIdleTimeout / 4;
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                EndIdle(time.GetUtcNow() - options.SessionIdleTimeout);
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
        foreach (var (key, session) in _live)
        {
            if (_live.TryRemove(key, out _))
            {
                recorder.EnqueueSessionEnd(session.Id, "Hoop stopped.", session.EventCount);
            }
        }
    }

    /// <summary>Ends the sessions idle since before <paramref name="cutoff"/>.</summary>
    public void EndIdle(DateTimeOffset cutoff)
    {
        foreach (var pair in _live)
        {
            if (pair.Value.LastSeen < cutoff && _live.TryRemove(pair))
            {
                recorder.EnqueueSessionEnd(pair.Value.Id, "Idle.", pair.Value.EventCount);
            }
        }
    }
}

/// <summary>A session in progress: hands out event sequence numbers.</summary>
public sealed class LiveSession(Guid id, DateTimeOffset startedAt)
{
    private int _sequence;
    private long _lastSeenTicks = startedAt.UtcTicks;

    public Guid Id { get; } = id;

    public DateTimeOffset LastSeen
    {
        get => new(Interlocked.Read(ref _lastSeenTicks), TimeSpan.Zero);
        set => Interlocked.Exchange(ref _lastSeenTicks, value.UtcTicks);
    }

    public int EventCount => Volatile.Read(ref _sequence);

    public int NextSequence() => Interlocked.Increment(ref _sequence);
}
