namespace Hoop.Proxy.Recording;

/// <summary>A session in progress: hands out event sequence numbers and knows whether a request is in flight.</summary>
public sealed class LiveSession(Guid id, DateTimeOffset startedAt, TimeProvider time)
{
    // Requests in flight, or Closed once the session ended: an ended session is never entered again.
    private const int Closed = int.MinValue;
    private int _sequence;
    private int _inFlight;
    private long _lastSeenTicks = startedAt.UtcTicks;

    public Guid Id { get; } = id;

    public DateTimeOffset LastSeen => new(Interlocked.Read(ref _lastSeenTicks), TimeSpan.Zero);

    /// <summary>Requests (or streams, or WebSockets) still running: a busy session is never idle.</summary>
    public int InFlight => Math.Max(0, Volatile.Read(ref _inFlight));

    public int EventCount => Volatile.Read(ref _sequence);

    public int NextSequence() => Interlocked.Increment(ref _sequence);

    private readonly Masking.MaskingCounts _masked = new();

    /// <summary>Adds one exchange's masking counts to the session's.</summary>
    public void AddMasked(Masking.MaskingCounts counts)
    {
        if (counts.Total == 0)
        {
            return;
        }

        lock (_masked)
        {
            _masked.Add(counts);
        }
    }

    /// <summary>The session's masking counts as stored with it, or null when nothing was masked.</summary>
    public string? MaskedJson()
    {
        lock (_masked)
        {
            return _masked.Total == 0 ? null : System.Text.Json.JsonSerializer.Serialize(_masked.ByDetector);
        }
    }

    /// <summary>A request enters; false when the session has ended.</summary>
    internal bool TryEnter(DateTimeOffset now)
    {
        for (var count = Volatile.Read(ref _inFlight); count != Closed; count = Volatile.Read(ref _inFlight))
        {
            if (Interlocked.CompareExchange(ref _inFlight, count + 1, count) == count)
            {
                Interlocked.Exchange(ref _lastSeenTicks, now.UtcTicks);
                return true;
            }
        }

        return false;
    }

    /// <summary>Ends the session if nothing is in flight.</summary>
    internal bool TryCloseIdle() => Interlocked.CompareExchange(ref _inFlight, Closed, 0) == 0;

    /// <summary>Ends the session whatever is in flight (Hoop stops, or its connection ended).</summary>
    internal void Close() => Interlocked.Exchange(ref _inFlight, Closed);

    /// <summary>The request that entered is over; it counts as the session's latest activity.</summary>
    public void Done()
    {
        Interlocked.Exchange(ref _lastSeenTicks, time.GetUtcNow().UtcTicks);
        for (var count = Volatile.Read(ref _inFlight); count > 0; count = Volatile.Read(ref _inFlight))
        {
            if (Interlocked.CompareExchange(ref _inFlight, count - 1, count) == count)
            {
                return;
            }
        }
    }
}
