namespace Hoop.Tests.Support;

/// <summary>
/// A clock that runs <c>factor</c> times faster than the real one, timers included: for watching schedules measured
/// in minutes (certificate renewal) play out in seconds, through the same code paths.
/// </summary>
public sealed class AcceleratedTimeProvider(double factor) : TimeProvider
{
    private readonly DateTimeOffset _start = System.GetUtcNow();
    private readonly long _startTimestamp = System.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => _start + System.GetElapsedTime(_startTimestamp) * factor;

    public override long GetTimestamp() => _startTimestamp + (long)((System.GetTimestamp() - _startTimestamp) * factor);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        System.CreateTimer(callback, state, Scale(dueTime), Scale(period));

    private TimeSpan Scale(TimeSpan span) => span == Timeout.InfiniteTimeSpan ? span : span / factor;
}
