using Microsoft.EntityFrameworkCore;

namespace Hoop.Data.Store;

/// <summary>The loop of a background job that works on the store: now, then at every tick, until the host stops.</summary>
public static class Periodic
{
    /// <summary>
    /// Runs <paramref name="work"/> at once and then every <paramref name="interval"/>. A failure of the store (busy,
    /// locked, or data the job refuses) goes to <paramref name="failed"/> and the next tick tries again: a job never
    /// stops the host.
    /// </summary>
    public static async Task RunAsync(TimeSpan interval, TimeProvider time, Func<CancellationToken, Task> work, Action<Exception> failed,
        CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            do
            {
                try
                {
                    await work(stoppingToken);
                }
                catch (Exception e) when (e is DbUpdateException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException or InvalidDataException)
                {
                    failed(e);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }
}
