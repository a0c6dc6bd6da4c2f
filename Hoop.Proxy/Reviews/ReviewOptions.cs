namespace Hoop.Proxy.Reviews;

/// <summary>
/// How long a held request waits for reviewers, and where new reviews and decisions are announced. Bound from
/// Hoop:Reviews (property names are the setting names).
/// </summary>
public sealed class ReviewOptions
{
    public int PendingMinutes { get; init; } = 60;

    /// <summary>The longest an agent may ask to wait for a decision with "Prefer: wait=N".</summary>
    public int MaxWaitSeconds { get; init; } = 300;

    /// <summary>A Slack-compatible incoming webhook ({"text": ...}) for new reviews and decisions.</summary>
    public Uri? Webhook { get; init; }

    public TimeSpan PendingTimeout => TimeSpan.FromMinutes(PendingMinutes);

    public TimeSpan MaxWait => TimeSpan.FromSeconds(MaxWaitSeconds);
}
