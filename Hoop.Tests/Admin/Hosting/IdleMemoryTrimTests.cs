using Hoop.Admin.Hosting;

namespace Hoop.Tests.Admin.Hosting;

/// <summary>When the idle trim collects: once per quiet spell after traffic, never during it, never twice.</summary>
public sealed class IdleMemoryTrimTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Trims_OnceTheRecorderHasBeenQuietLongEnough_ThenNotAgainUntilTrafficReturns()
    {
        var quiet = new IdleMemoryTrim.Quiet();
        Assert.False(quiet.Observe(10, Start)); // traffic
        Assert.False(quiet.Observe(10, Start + IdleMemoryTrim.QuietFor - TimeSpan.FromSeconds(1)));
        Assert.True(quiet.Observe(10, Start + IdleMemoryTrim.QuietFor));
        Assert.False(quiet.Observe(10, Start + IdleMemoryTrim.QuietFor * 5)); // still quiet: already trimmed

        Assert.False(quiet.Observe(11, Start + IdleMemoryTrim.QuietFor * 6)); // traffic again
        Assert.True(quiet.Observe(11, Start + IdleMemoryTrim.QuietFor * 7));
    }

    [Fact]
    public void NeverTrims_WhileTheRecorderKeepsWriting()
    {
        var quiet = new IdleMemoryTrim.Quiet();
        for (var i = 0; i < 100; i++)
        {
            Assert.False(quiet.Observe(i, Start + IdleMemoryTrim.QuietFor * i));
        }
    }
}
