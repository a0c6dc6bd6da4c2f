namespace Hoop.Tests.Support;

/// <summary>Waits for something the host does in the background (a renewal, a webhook call, a sweep).</summary>
public static class Eventually
{
    /// <summary>Checks every 100 ms until <paramref name="condition"/> holds; fails after <paramref name="timeout"/>, saying <paramref name="state"/>.</summary>
    public static async Task TrueAsync(Func<bool> condition, TimeSpan timeout, Func<string>? state = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.True(condition(), $"timed out {state?.Invoke()}");
    }

    /// <summary>Checks every 100 ms until <paramref name="condition"/> holds; fails after <paramref name="timeout"/> (10 s unless given).</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!await condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.True(await condition(), "timed out");
    }
}
