using System.Collections.Concurrent;

namespace Hoop.Tests.Support;

/// <summary>
/// A clock that jumps ahead by each timer's due time and fires the timer at once: code that waits between polls
/// runs its whole schedule without waiting, and <see cref="Waits"/> says what it waited for, in order.
/// </summary>
public sealed class SteppingTimeProvider : TimeProvider
{
    private long _offsetTicks;

    public ConcurrentQueue<TimeSpan> Waits { get; } = new();

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow().AddTicks(Interlocked.Read(ref _offsetTicks));

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            Waits.Enqueue(dueTime);
            Interlocked.Add(ref _offsetTicks, dueTime.Ticks);
            // On the pool, as a real timer fires: the waiter must not resume inside CreateTimer.
            ThreadPool.QueueUserWorkItem(_ => callback(state));
        }

        return new Fired();
    }

    private sealed class Fired : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period) => false;

        public void Dispose()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
