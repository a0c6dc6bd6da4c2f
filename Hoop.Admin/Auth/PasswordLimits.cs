namespace Hoop.Admin.Auth;

/// <summary>How password checks (the break-glass admin's PBKDF2) are rationed. Bound from Hoop:Limits (Password*).</summary>
public sealed record PasswordLimits
{
    /// <summary>Password hashes computed at once; each takes a core for a good fraction of a second.</summary>
    public int PasswordChecks { get; init; } = 2;

    /// <summary>Wrong passwords a source may give before its back-off starts.</summary>
    public int PasswordFreeFailures { get; init; } = 5;

    /// <summary>The longest a source waits between tries once its back-off has grown (it doubles from one second).</summary>
    public int PasswordMaxBackoffSeconds { get; init; } = 300;

    public TimeSpan MaxBackoff => TimeSpan.FromSeconds(PasswordMaxBackoffSeconds);

    /// <summary>A source's failures are forgotten after this long without one.</summary>
    public static TimeSpan ForgetAfter => TimeSpan.FromHours(1);

    /// <summary>Checks that may wait for a place in all (at most one per source); past it, 429 at once.</summary>
    public const int MaxWaiting = 32;

    /// <summary>
    /// Checks from one source that may wait behind its check in progress (a source is checked one at a time). Waiting
    /// costs no hashing: once one of them is found right the rest need none, and once the source backs off they are
    /// refused. So a script's burst of right requests all pass, while a burst of guesses costs a few hashes.
    /// </summary>
    public const int MaxWaitingPerSource = 64;

    /// <summary>Sources whose failures are remembered; past it a new source is rationed by the overall cap alone.</summary>
    public const int MaxSources = 100_000;
}
