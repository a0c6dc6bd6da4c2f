using System.Collections.Concurrent;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Recording;

namespace Hoop.Admin.Auth;

/// <summary>What became of a password check.</summary>
public enum PasswordOutcome
{
    Accepted,
    Refused,

    /// <summary>Not checked: the source is backing off, or too many checks are waiting. Answered 429 with Retry-After.</summary>
    Throttled,
}

public readonly record struct PasswordVerdict(PasswordOutcome Outcome, TimeSpan RetryAfter = default)
{
    public bool Accepted => Outcome == PasswordOutcome.Accepted;

    /// <summary>Retry-After in whole seconds, at least one.</summary>
    public int RetryAfterSeconds => Math.Max(1, (int)Math.Ceiling(RetryAfter.TotalSeconds));
}

/// <summary>
/// The one door every password check goes through, on every port and path (console sign-in, Basic on the admin
/// API, the password change). A password hash is deliberately slow, so guessing is also a way to burn CPU:
/// <list type="bullet">
/// <item>at most <see cref="PasswordLimits.PasswordChecks"/> hashes at once, one per source, a few waiting;
/// past that 429 at once;</item>
/// <item>a source that gave <see cref="PasswordLimits.PasswordFreeFailures"/> wrong passwords waits 1, 2, 4 ... seconds (up to
/// <see cref="PasswordLimits.MaxBackoff"/>) before its next check, and is answered 429 with Retry-After meanwhile,
/// before any hashing.</item>
/// </list>
/// Only the guessing source backs off: the right password from any other source is checked at once. Refusals are
/// audited once a minute per source, with their count.
/// </summary>
public sealed partial class PasswordLimiter(
    PasswordLimits limits,
    Recorder recorder,
    AuditLog audit,
    TimeProvider time,
    ILogger<PasswordLimiter> logger) : BackgroundService
{
    private static readonly TimeSpan AuditInterval = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<string, Source> _sources = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _places = new(limits.PasswordChecks);
    private int _waiting;

    /// <summary>
    /// Runs <paramref name="verify"/> (the hash) when the source may try now and a place is free. <paramref name="cached"/>,
    /// asked before waiting and again once a place is had, answers true for a password already known right, which
    /// needs no hash.
    /// </summary>
    public async Task<PasswordVerdict> CheckAsync(string source, Func<bool> cached, Func<bool> verify, CancellationToken cancellationToken)
    {
        var state = Track(source);
        if (state?.BackingOff(time.GetUtcNow()) is { } wait)
        {
            return Refuse(source, state, wait, "backing off");
        }

        // The back-off comes first: otherwise guesses could test against the known-right password at full speed.
        if (cached())
        {
            state?.Succeeded();
            return new(PasswordOutcome.Accepted);
        }

        if (state is not null && Interlocked.Increment(ref state.Waiting) > PasswordLimits.MaxWaitingPerSource + 1)
        {
            Interlocked.Decrement(ref state.Waiting);
            return Refuse(source, state, TimeSpan.FromSeconds(1), "busy");
        }

        try
        {
            if (state is not null)
            {
                await state.Gate.WaitAsync(cancellationToken);
            }

            try
            {
                return await CheckInPlaceAsync(source, state, cached, verify, cancellationToken);
            }
            finally
            {
                state?.Gate.Release();
            }
        }
        finally
        {
            if (state is not null)
            {
                Interlocked.Decrement(ref state.Waiting);
            }
        }
    }

    private async Task<PasswordVerdict> CheckInPlaceAsync(string source, Source? state, Func<bool> cached, Func<bool> verify, CancellationToken cancellationToken)
    {
        // A failure of this source's check before this one may have started its back-off.
        if (state?.BackingOff(time.GetUtcNow()) is { } wait)
        {
            return Refuse(source, state, wait, "backing off");
        }

        if (Interlocked.Increment(ref _waiting) > PasswordLimits.MaxWaiting + limits.PasswordChecks)
        {
            Interlocked.Decrement(ref _waiting);
            return Refuse(source, state, TimeSpan.FromSeconds(1), "busy");
        }

        try
        {
            await _places.WaitAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        try
        {
            if (cached())
            {
                state?.Succeeded();
                return new(PasswordOutcome.Accepted);
            }

            if (verify())
            {
                state?.Succeeded();
                return new(PasswordOutcome.Accepted);
            }

            state?.Failed(time.GetUtcNow(), limits);
            return new(PasswordOutcome.Refused);
        }
        finally
        {
            _places.Release();
        }
    }

    /// <summary>The remembered state of a source; null when the table is full (the overall cap still applies).</summary>
    private Source? Track(string source)
    {
        if (!_sources.TryGetValue(source, out var state))
        {
            state = _sources.Count >= PasswordLimits.MaxSources ? null : _sources.GetOrAdd(source, _ => new Source());
        }

        // Seen now: the sweep must not forget a source between this lookup and the try it is for.
        state?.Seen(time.GetUtcNow());
        return state;
    }

    private PasswordVerdict Refuse(string source, Source? state, TimeSpan retryAfter, string reason)
    {
        if (state is not null)
        {
            Interlocked.Increment(ref state.RefusedSinceAudit);
            if (state.AuditThrottle.TryTake(time.GetUtcNow()))
            {
                AuditRefusals(source, state, reason);
            }
        }
        else if (_unknownLog.TryTake(time.GetUtcNow()))
        {
            LogUntracked(PasswordLimits.MaxSources);
        }

        return new(PasswordOutcome.Throttled, retryAfter);
    }

    private readonly Throttle _unknownLog = new(AuditInterval);

    private void AuditRefusals(string source, Source state, string reason)
    {
        var refused = Interlocked.Exchange(ref state.RefusedSinceAudit, 0);
        if (refused == 0)
        {
            return;
        }

        recorder.Enqueue(audit.Create(BreakGlassAdmin.Actor, "break-glass.throttled", source, AuditOutcome.Denied,
            new { clientAddress = source, refused, failures = state.Failures, reason }));
        LogThrottled(source, refused, state.Failures);
    }

    /// <summary>Writes the refusals counted since each source's last record, and forgets sources quiet for long.</summary>
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Periodic.RunAsync(AuditInterval, time, _ =>
        {
            var now = time.GetUtcNow();
            foreach (var (source, state) in _sources)
            {
                if (Volatile.Read(ref state.RefusedSinceAudit) > 0 && state.AuditThrottle.TryTake(now))
                {
                    AuditRefusals(source, state, "backing off");
                }

                if (state.Forgettable(now, limits))
                {
                    _sources.TryRemove(new KeyValuePair<string, Source>(source, state));
                }
            }

            return Task.CompletedTask;
        }, _ => { }, stoppingToken);

    private sealed class Source
    {
        private readonly Lock _lock = new();
        private DateTimeOffset _lastFailure;
        private DateTimeOffset _retryAt;
        private DateTimeOffset _lastSeen;

        public readonly SemaphoreSlim Gate = new(1);
        public readonly Throttle AuditThrottle = new(AuditInterval);
        public int Waiting;
        public int RefusedSinceAudit;

        public int Failures { get; private set; }

        public TimeSpan? BackingOff(DateTimeOffset now)
        {
            lock (_lock)
            {
                return now < _retryAt ? _retryAt - now : null;
            }
        }

        public void Failed(DateTimeOffset now, PasswordLimits limits)
        {
            lock (_lock)
            {
                if (now - _lastFailure > PasswordLimits.ForgetAfter)
                {
                    Failures = 0;
                }

                Failures++;
                _lastFailure = now;
                var over = Failures - limits.PasswordFreeFailures;
                if (over > 0)
                {
                    var seconds = Math.Min(Math.Pow(2, Math.Min(over - 1, 30)), limits.MaxBackoff.TotalSeconds);
                    _retryAt = now + TimeSpan.FromSeconds(seconds);
                }
            }
        }

        public void Seen(DateTimeOffset now)
        {
            lock (_lock)
            {
                _lastSeen = now;
            }
        }

        public void Succeeded()
        {
            lock (_lock)
            {
                Failures = 0;
                _retryAt = default;
            }
        }

        public bool Forgettable(DateTimeOffset now, PasswordLimits limits)
        {
            lock (_lock)
            {
                return Volatile.Read(ref Waiting) == 0 && Volatile.Read(ref RefusedSinceAudit) == 0 && now >= _retryAt
                    && now - _lastSeen > PasswordLimits.ForgetAfter
                    && (Failures == 0 || now - _lastFailure > PasswordLimits.ForgetAfter);
            }
        }
    }

    [LoggerMessage(3010, LogLevel.Warning, "Password checks from {Source} refused: {Refused} since the last report, after {Failures} wrong passwords")]
    private partial void LogThrottled(string source, int refused, int failures);

    [LoggerMessage(3011, LogLevel.Warning, "Password checks from more than {Sources} sources are being remembered; new sources are limited by the overall cap alone")]
    private partial void LogUntracked(int sources);
}
