using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Recording;

/// <summary>
/// What was just recorded or decided, for the pages that show it live: they refresh when something they show changed,
/// instead of each open tab asking the store every two seconds. Published after the change is committed, on the
/// publisher's thread (the recorder's writer): a subscriber only schedules its work, and one that fails is logged and
/// skipped, never the publisher's problem.
/// </summary>
public sealed partial class ActivityFeed(ILogger<ActivityFeed> logger)
{
    public event Action<ActivityChange>? Changed;

    public void Publish(ActivityChange change)
    {
        if (change.Sessions.Count == 0 && !change.Reviews || Changed is not { } changed)
        {
            return;
        }

        foreach (var subscriber in changed.GetInvocationList().Cast<Action<ActivityChange>>())
        {
            try
            {
                subscriber(change);
            }
            catch (Exception e)
            {
                LogSubscriberFailed(e);
            }
        }
    }

    [LoggerMessage(7004, LogLevel.Warning, "A live page's refresh could not be scheduled")]
    private partial void LogSubscriberFailed(Exception error);
}

/// <summary>The sessions whose records (start, events, end) were just written, and whether any review changed.</summary>
public sealed record ActivityChange(IReadOnlySet<Guid> Sessions, bool Reviews)
{
    public static readonly ActivityChange ReviewsChanged = new(new HashSet<Guid>(), true);
}
