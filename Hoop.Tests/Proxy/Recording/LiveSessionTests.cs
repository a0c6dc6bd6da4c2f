using Hoop.Proxy.Recording;

namespace Hoop.Tests.Proxy.Recording;

/// <summary>
/// A session ended as idle is sealed; a request that found it a moment before must not add an event to it
/// (the event would hang off a sealed chain). Entering and the idle sweep's close exclude each other.
/// </summary>
public sealed class LiveSessionTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void TheIdleSweep_ClosesOnlyASessionWithNothingInFlight_AndAClosedSessionIsNeverEnteredAgain()
    {
        var session = new LiveSession(Guid.NewGuid(), Now, TimeProvider.System);
        Assert.True(session.TryEnter(Now));
        Assert.True(session.TryEnter(Now));
        Assert.Equal(2, session.InFlight);
        Assert.False(session.TryCloseIdle()); // Busy.

        session.Done();
        session.Done();
        Assert.True(session.TryCloseIdle());
        Assert.False(session.TryEnter(Now));
        session.Done(); // A stray Done does not reopen it.
        Assert.False(session.TryEnter(Now));
        Assert.Equal(0, session.InFlight);
    }

    [Fact]
    public async Task EnteringWhileTheSweepCloses_EitherEntersBeforeTheCloseOrNotAtAll()
    {
        for (var round = 0; round < 200; round++)
        {
            var session = new LiveSession(Guid.NewGuid(), Now, TimeProvider.System);
            var closed = 0;
            var enteredAfterClose = 0;
            using var start = new ManualResetEventSlim();
            var entering = Task.Run(() =>
            {
                start.Wait();
                for (var i = 0; i < 1_000; i++)
                {
                    var wasClosed = Volatile.Read(ref closed) == 1;
                    if (session.TryEnter(Now))
                    {
                        if (wasClosed)
                        {
                            Interlocked.Increment(ref enteredAfterClose);
                        }

                        session.Done();
                    }
                }
            });
            var sweeping = Task.Run(() =>
            {
                start.Wait();
                while (!session.TryCloseIdle())
                {
                    Thread.SpinWait(10);
                }

                Volatile.Write(ref closed, 1);
            });
            start.Set();
            await Task.WhenAll(entering, sweeping);
            Assert.Equal(0, enteredAfterClose);
            Assert.False(session.TryEnter(Now));
        }
    }
}
