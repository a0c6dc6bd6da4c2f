using Hoop.Admin.Console;
using Hoop.Proxy.Recording;

namespace Hoop.Tests.Admin.Console;

/// <summary>Live pages reload when what they show changes: at once when quiet, at most once a second when busy, never for others' changes.</summary>
public sealed class LiveRefreshTests
{
    private static readonly Guid Mine = Guid.NewGuid();
    private readonly ActivityFeed _feed = new(Microsoft.Extensions.Logging.Abstractions.NullLogger<ActivityFeed>.Instance);
    private readonly TimerClock _clock = new();
    private int _reloads;

    private LiveRefresh Watch() => new(_feed, change => change.Sessions.Contains(Mine), () => { _reloads++; return Task.CompletedTask; }, _clock);

    private void Recorded(Guid session) => _feed.Publish(new ActivityChange(new HashSet<Guid> { session }, Reviews: false));

    [Fact]
    public void FirstChange_ReloadsAtOnce_AndABurstIsOneReload()
    {
        using var live = Watch();

        Recorded(Mine);
        Recorded(Mine);
        Recorded(Mine);

        var timer = Assert.Single(_clock.Timers);
        Assert.Equal(TimeSpan.Zero, timer.Due);
        timer.Fire();
        Assert.Equal(1, _reloads);
    }

    [Fact]
    public void ChangeSoonAfterAReload_WaitsOutTheSecond()
    {
        using var live = Watch();
        Recorded(Mine);
        _clock.Timers[0].Fire();

        _clock.Elapse(TimeSpan.FromMilliseconds(300));
        Recorded(Mine);

        Assert.Equal(2, _clock.Timers.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(700), _clock.Timers[1].Due);
        _clock.Timers[1].Fire();
        Assert.Equal(2, _reloads);
    }

    [Fact]
    public void OthersChanges_AndChangesAfterClosing_ReloadNothing()
    {
        var live = Watch();
        Recorded(Guid.NewGuid());
        _feed.Publish(ActivityChange.ReviewsChanged);
        Assert.Empty(_clock.Timers);

        Recorded(Mine);
        live.Dispose();
        _clock.Timers[0].Fire();
        Recorded(Mine);

        Assert.Equal(0, _reloads);
        Assert.Single(_clock.Timers);
    }

    [Fact]
    public void ASubscriberThatFails_NeitherStopsTheOthersNorThePublisher()
    {
        _feed.Changed += _ => throw new InvalidOperationException("a broken page");
        using var live = Watch();

        Recorded(Mine);

        Assert.Single(_clock.Timers);
    }

    /// <summary>Timers the test fires by hand; timestamps it moves by hand.</summary>
    private sealed class TimerClock : TimeProvider
    {
        private long _ticks = 1;

        public List<ManualTimer> Timers { get; } = [];

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => _ticks;

        public void Elapse(TimeSpan by) => _ticks += by.Ticks;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = new ManualTimer(() => callback(state), dueTime);
            Timers.Add(timer);
            return timer;
        }
    }

    private sealed class ManualTimer(Action callback, TimeSpan due) : ITimer
    {
        public TimeSpan Due => due;

        public void Fire() => callback();

        public bool Change(TimeSpan dueTime, TimeSpan period) => true;

        public void Dispose()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
