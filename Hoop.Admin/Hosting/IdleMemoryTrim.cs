using System.Runtime.InteropServices;
using Hoop.Data.Store;
using Hoop.Proxy.Recording;

namespace Hoop.Admin.Hosting;

/// <summary>
/// After a burst of traffic the GC keeps the heaps it grew (the server GC above all): Hoop stayed at about twice its
/// idle size for minutes after 1,000 connections had gone (bench/memory.sh). Once nothing has been recorded for
/// <see cref="QuietFor"/>, that is once no agent is using the proxy, one compacting collection and glibc's trim
/// return the free memory to the system; then nothing more until traffic has come and gone again.
/// </summary>
public sealed partial class IdleMemoryTrim(Recorder recorder, TimeProvider time, ILogger<IdleMemoryTrim> logger) : BackgroundService
{
    /// <summary>How long the recorder must have written nothing: past the search index's catch-up after a burst.</summary>
    public static readonly TimeSpan QuietFor = TimeSpan.FromSeconds(30);

    private readonly Quiet _quiet = new();

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Periodic.RunAsync(TimeSpan.FromSeconds(5), time, _ =>
    {
        if (_quiet.Observe(recorder.Written, time.GetUtcNow()))
        {
            var before = Environment.WorkingSet;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            TrimNativeHeap();
            LogTrimmed(before >> 20, Environment.WorkingSet >> 20);
        }

        return Task.CompletedTask;
    }, _ => { }, stoppingToken);

    /// <summary>When to trim: once per quiet spell that follows activity (the recorder's written count moving).</summary>
    internal sealed class Quiet
    {
        private long _written = -1;
        private DateTimeOffset _since;
        private bool _trimmed = true;

        /// <summary>True once, when the count has not moved for <see cref="QuietFor"/> after it last moved.</summary>
        public bool Observe(long written, DateTimeOffset now)
        {
            if (written != _written)
            {
                (_written, _since, _trimmed) = (written, now, false);
                return false;
            }

            if (_trimmed || now - _since < QuietFor)
            {
                return false;
            }

            _trimmed = true;
            return true;
        }
    }

    private static bool _nativeTrim = OperatingSystem.IsLinux();

    /// <summary>What TLS and SQLite freed stays in glibc's arenas until asked back; a libc without it (musl) is left alone.</summary>
    private static void TrimNativeHeap()
    {
        try
        {
            if (_nativeTrim)
            {
                MallocTrim(0);
            }
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _nativeTrim = false;
        }
    }

    [DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    [LoggerMessage(Level = LogLevel.Information, Message = "Idle after traffic: memory trimmed from {BeforeMb} MB to {AfterMb} MB resident")]
    private partial void LogTrimmed(long beforeMb, long afterMb);
}
