using Hoop.Proxy.Recording;

namespace Hoop.Admin.Console;

/// <summary>
/// Refreshes a page when the activity it shows changes (<see cref="ActivityFeed"/>): at once after a quiet spell, and
/// at most once a second while changes keep coming, so a busy Hoop costs an open tab one reload a second, an idle
/// one none.
/// </summary>
internal sealed class LiveRefresh : IDisposable
{
    private static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(1);

    private readonly ActivityFeed _feed;
    private readonly Func<ActivityChange, bool> _relevant;
    private readonly Func<Task> _refresh;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private ITimer? _scheduled;
    private long _last;
    private bool _disposed;

    /// <summary><paramref name="refresh"/>: the page's reload, run through its renderer (the component's InvokeAsync).</summary>
    public LiveRefresh(ActivityFeed feed, Func<ActivityChange, bool> relevant, Func<Task> refresh, TimeProvider time)
    {
        (_feed, _relevant, _refresh, _time) = (feed, relevant, refresh, time);
        _feed.Changed += OnChanged;
    }

    private void OnChanged(ActivityChange change)
    {
        if (!_relevant(change))
        {
            return;
        }

        lock (_lock)
        {
            if (_disposed || _scheduled is not null)
            {
                return; // A reload is coming already; it will see this change too.
            }

            var since = _last == 0 ? MinInterval : _time.GetElapsedTime(_last);
            var due = since >= MinInterval ? TimeSpan.Zero : MinInterval - since;
            _scheduled = _time.CreateTimer(_ => _ = RunAsync(), null, due, Timeout.InfiniteTimeSpan);
        }
    }

    private async Task RunAsync()
    {
        lock (_lock)
        {
            _scheduled?.Dispose();
            _scheduled = null;
            _last = _time.GetTimestamp();
            if (_disposed)
            {
                return;
            }
        }

        try
        {
            await _refresh();
        }
        catch (ObjectDisposedException)
        {
            // The page closed while its reload waited.
        }
    }

    public void Dispose()
    {
        _feed.Changed -= OnChanged;
        lock (_lock)
        {
            _disposed = true;
            _scheduled?.Dispose();
            _scheduled = null;
        }
    }
}
