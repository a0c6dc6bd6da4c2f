namespace Hoop.Proxy.Recording;

/// <summary>
/// What was just recorded or decided, for the pages that show it live: they refresh when something they show changed,
/// instead of each open tab asking the store every two seconds. Published after the change is committed.
/// </summary>
public sealed class ActivityFeed
{
    public event Action<ActivityChange>? Changed;

    public void Publish(ActivityChange change)
    {
        if (change.Sessions.Count > 0 || change.Reviews)
        {
            Changed?.Invoke(change);
        }
    }
}

/// <summary>The sessions whose records (start, events, end) were just written, and whether any review changed.</summary>
public sealed record ActivityChange(IReadOnlySet<Guid> Sessions, bool Reviews)
{
    public static readonly ActivityChange ReviewsChanged = new(new HashSet<Guid>(), true);
}
