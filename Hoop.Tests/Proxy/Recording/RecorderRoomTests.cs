using System.Diagnostics;
using Hoop.Proxy.Model;
using Hoop.Proxy.Recording;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hoop.Tests.Proxy.Recording;

/// <summary>Backpressure before refusal: a request waits a bounded time for room in a full recording queue.</summary>
public sealed class RecorderRoomTests
{
    // Not started: nothing drains the queue, and the store is never reached.
    private static Recorder Unstarted(int capacity) =>
        new(null!, new RecordingOptions { QueueCapacity = capacity }, null!, null!, new ActivityFeed(NullLogger<ActivityFeed>.Instance), TimeProvider.System, NullLogger<Recorder>.Instance);

    [Fact]
    public async Task WaitForRoom_QueueHasRoom_AnswersAtOnce()
    {
        var recorder = Unstarted(capacity: 2);
        recorder.EnqueueApiKeyUse(Guid.NewGuid());

        var clock = Stopwatch.StartNew();
        Assert.True(await recorder.WaitForRoomAsync(TimeSpan.FromSeconds(30), CancellationToken.None));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task WaitForRoom_QueueStaysFull_RefusesAfterTheLimit()
    {
        var recorder = Unstarted(capacity: 2);
        recorder.EnqueueApiKeyUse(Guid.NewGuid());
        recorder.EnqueueApiKeyUse(Guid.NewGuid());

        var clock = Stopwatch.StartNew();
        Assert.False(await recorder.WaitForRoomAsync(TimeSpan.FromMilliseconds(300), CancellationToken.None));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(250), $"refused after {clock.Elapsed}");
    }

    [Fact]
    public async Task WaitForRoom_AgentGone_StopsWaiting()
    {
        var recorder = Unstarted(capacity: 1);
        recorder.EnqueueApiKeyUse(Guid.NewGuid());
        using var gone = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => recorder.WaitForRoomAsync(TimeSpan.FromSeconds(30), gone.Token).AsTask());
    }
}
