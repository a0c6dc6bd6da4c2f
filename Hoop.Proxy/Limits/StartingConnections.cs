using System.Collections.Concurrent;

namespace Hoop.Proxy.Limits;

/// <summary>
/// Counts one port's connections that are still starting (TLS handshake, Postgres startup and login), per source and
/// in all. A source past its share is refused at once, so one address that opens connections and never finishes
/// them cannot take the places every other client needs.
/// </summary>
public sealed class StartingConnections(int maxPerSource, int maxInAll)
{
    private readonly ConcurrentDictionary<string, int> _bySource = new(StringComparer.Ordinal);
    private int _inAll;

    public int MaxPerSource => maxPerSource;
    public int MaxInAll => maxInAll;

    /// <summary>Connections starting now (for tests and diagnostics).</summary>
    public int Count => Volatile.Read(ref _inAll);

    /// <summary>A place for a connection from <paramref name="source"/>, or why there is none.</summary>
    public StartingRefusal TryEnter(string source, out Place? place)
    {
        place = null;
        if (Interlocked.Increment(ref _inAll) > maxInAll)
        {
            Interlocked.Decrement(ref _inAll);
            return StartingRefusal.TooManyInAll;
        }

        var mine = _bySource.AddOrUpdate(source, 1, (_, n) => n + 1);
        if (mine > maxPerSource)
        {
            Leave(source);
            return StartingRefusal.TooManyFromSource;
        }

        place = new Place(this, source);
        return StartingRefusal.None;
    }

    private void Leave(string source)
    {
        Interlocked.Decrement(ref _inAll);
        // Decrement, and drop the entry at zero so the table holds only sources with connections starting now.
        while (true)
        {
            var n = _bySource[source];
            if (n == 1 ? _bySource.TryRemove(new KeyValuePair<string, int>(source, 1)) : _bySource.TryUpdate(source, n - 1, n))
            {
                return;
            }
        }
    }

    /// <summary>One connection's place; given back once, when it is let in or gone.</summary>
    public sealed class Place(StartingConnections owner, string source)
    {
        private int _left;

        public string Source => source;

        public void Leave()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0)
            {
                owner.Leave(source);
            }
        }
    }
}

public enum StartingRefusal
{
    None,
    TooManyFromSource,
    TooManyInAll,
}
