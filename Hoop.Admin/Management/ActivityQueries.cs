using Hoop.Data.Entities;
using Hoop.Data.Records;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>
/// Which sessions to list; every filter given must hold. <see cref="Search"/> matches part of the connection, the
/// agent's subject or name; <see cref="Contains"/> searches the recorded content of the session's events;
/// <see cref="Outcome"/>: allowed (nothing stopped), denied, held (for review), error.
/// </summary>
public sealed record SessionFilter(string? Search = null, string? Agent = null, string? Group = null, string? Connection = null,
    ConnectionKind? Protocol = null, DateTime? From = null, DateTime? To = null, string? Outcome = null, string? Contains = null)
{
    /// <summary>Only the sessions of this caller (<see cref="Session.CallerKey"/>): set by <see cref="SessionScope"/>, never by a query string.</summary>
    public string? OwnedBy { get; init; }
}

/// <summary>
/// Which audit events to show or export; every filter given must hold. Actor, action and target match part of the
/// value; the time range is UTC, from inclusive, to exclusive.
/// </summary>
public sealed record AuditFilter(string? Actor = null, string? Action = null, string? Target = null, AuditOutcome? Outcome = null,
    DateTime? From = null, DateTime? To = null)
{
    public IQueryable<AuditEvent> Apply(IQueryable<AuditEvent> query)
    {
        if (ActivityQueries.Given(Actor) is { } actor)
        {
            query = query.Where(a => a.Actor.Contains(actor));
        }

        if (ActivityQueries.Given(Action) is { } action)
        {
            query = query.Where(a => a.Action.Contains(action));
        }

        if (ActivityQueries.Given(Target) is { } target)
        {
            query = query.Where(a => a.Target != null && a.Target.Contains(target));
        }

        if (Outcome is { } outcome)
        {
            query = query.Where(a => a.Outcome == outcome);
        }

        if (From is { } from)
        {
            query = query.Where(a => a.At >= from);
        }

        if (To is { } to)
        {
            query = query.Where(a => a.At < to);
        }

        return query;
    }

}

/// <summary>A marker on a replay's timeline: the event it is at, its kind (denied, held, decision, decision-refused, approved, error, masked) and what it says.</summary>
public sealed record TimelineMark(int Sequence, string Kind, string Label);

/// <summary>What happened: sessions with their recorded events, and the audit log. Read-only, for admins and auditors.</summary>
public sealed class ActivityQueries(IDbContextFactory<HoopDbContext> contexts, Hoop.Proxy.Recording.SessionTracker tracker)
{
    public const int MaxRows = 500;

    /// <summary>Newest first; <paramref name="text"/> matches part of the connection name, the agent's subject or its display name.</summary>
    public Task<List<Session>> SessionsAsync(string? text, int limit, CancellationToken cancellationToken) =>
        SessionsAsync(new SessionFilter(Search: text), limit, cancellationToken);

    /// <summary>The sessions that match every filter given, newest first; open ones with their counts so far (<see cref="WithCurrentCountsAsync"/>).</summary>
    public async Task<List<Session>> SessionsAsync(SessionFilter filter, int limit, CancellationToken cancellationToken) =>
        await WithCurrentCountsAsync(await StoredSessionsAsync(filter, limit, cancellationToken), cancellationToken);

    /// <summary>
    /// The sessions as stored, open ones without their counts (a session's record gets them when it is sealed):
    /// for exports, whose signed manifest must match the events written with it.
    /// </summary>
    public async Task<List<Session>> StoredSessionsAsync(SessionFilter filter, int limit, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.Sessions.AsNoTracking();
        if (filter.OwnedBy is { } owner)
        {
            query = query.Where(s => s.CallerKey == owner);
        }

        if (Given(filter.Search) is { } text)
        {
            query = query.Where(s => s.ConnectionName.Contains(text) || s.Subject.Contains(text) || (s.DisplayName != null && s.DisplayName.Contains(text)));
        }

        if (Given(filter.Agent) is { } agent)
        {
            query = query.Where(s => s.Subject == agent || s.DisplayName == agent);
        }

        if (Given(filter.Group) is { } group)
        {
            query = query.Where(s => s.Groups.Contains(group));
        }

        if (Given(filter.Connection) is { } connection)
        {
            query = query.Where(s => s.ConnectionName == connection);
        }

        if (filter.Protocol is { } protocol)
        {
            query = query.Where(s => s.Protocol == protocol);
        }

        if (filter.From is { } from)
        {
            query = query.Where(s => s.StartedAt >= from.ToUniversalTime());
        }

        if (filter.To is { } to)
        {
            query = query.Where(s => s.StartedAt < to.ToUniversalTime());
        }

        // Outcomes by the events' marks: event rows (older stores) and chunks, whose marks are every event's together.
        var events = db.SessionEvents;
        var chunks = db.SessionChunks;
        const EventMarks Stopped = EventMarks.Denied | EventMarks.Held;
        query = Given(filter.Outcome)?.ToLowerInvariant() switch
        {
            null => query,
            "denied" => query.Where(s => events.Any(e => e.SessionId == s.Id && (e.Marks & EventMarks.Denied) != 0)
                || chunks.Any(c => c.SessionId == s.Id && (c.Marks & EventMarks.Denied) != 0)),
            "held" => query.Where(s => events.Any(e => e.SessionId == s.Id && (e.Marks & EventMarks.Held) != 0)
                || chunks.Any(c => c.SessionId == s.Id && (c.Marks & EventMarks.Held) != 0)),
            "error" => query.Where(s => s.Status == SessionStatus.Interrupted
                || events.Any(e => e.SessionId == s.Id && (e.Marks & EventMarks.Error) != 0)
                || chunks.Any(c => c.SessionId == s.Id && (c.Marks & EventMarks.Error) != 0)),
            "allowed" => query.Where(s => !events.Any(e => e.SessionId == s.Id && (e.Marks & Stopped) != 0)
                && !chunks.Any(c => c.SessionId == s.Id && (c.Marks & Stopped) != 0)),
            var other => throw new ArgumentException($"'{other}' is not an outcome; use allowed, denied, held or error."),
        };

        query = query.OrderByDescending(s => s.StartedAt);
        limit = Math.Clamp(limit, 1, MaxRows);
        if (Given(filter.Contains) is not { } content)
        {
            return await query.Take(limit).ToListAsync(cancellationToken);
        }

        // Recorded content is masked as stored, so a search finds only what anyone may see. Chunks are compressed:
        // the sessions the other filters leave are read newest first until enough hold the text.
        var found = new List<Session>();
        await using var reader = await contexts.CreateDbContextAsync(cancellationToken);
        await foreach (var session in query.Where(s => events.Any(e => e.SessionId == s.Id) || chunks.Any(c => c.SessionId == s.Id)).AsAsyncEnumerable()
            .WithCancellation(cancellationToken))
        {
            if (await RecordedEvents.ContainsAsync(reader, session.Id, content, cancellationToken))
            {
                found.Add(session);
                if (found.Count == limit)
                {
                    break;
                }
            }
        }

        return found;
    }

    /// <summary>"denied" or "held" for an event a guardrail stopped (kinds "http-denied", "sql-held", ...); null for any other.</summary>
    public static string? StopOf(string kind) =>
        kind.EndsWith(EventKinds.DeniedSuffix, StringComparison.Ordinal) ? "denied" : kind.EndsWith(EventKinds.HeldSuffix, StringComparison.Ordinal) ? "held" : null;

    /// <summary>A filter's text as given, or null when empty.</summary>
    internal static string? Given(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    /// <summary>The session; if it is open, with its counts so far.</summary>
    public async Task<Session?> FindSessionAsync(Guid id, CancellationToken cancellationToken) =>
        await FindStoredSessionAsync(id, cancellationToken) is { } session ? (await WithCurrentCountsAsync([session], cancellationToken))[0] : null;

    /// <summary>The session as stored (see <see cref="StoredSessionsAsync"/>).</summary>
    public async Task<Session?> FindStoredSessionAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Sessions.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, cancellationToken);
    }

    /// <summary>
    /// Open sessions with their event and masking counts so far, which their record gets only when sealed: from the
    /// live session when this instance serves it, else the events stored so far (masking counts then stay unknown).
    /// </summary>
    private async Task<List<Session>> WithCurrentCountsAsync(List<Session> sessions, CancellationToken cancellationToken)
    {
        var elsewhere = new List<Guid>();
        foreach (var session in sessions.Where(s => s.Status == SessionStatus.Open))
        {
            if (tracker.Find(session.Id) is { } live)
            {
                session.EventCount = live.EventCount;
                session.MaskedValues = live.MaskedJson();
            }
            else
            {
                elsewhere.Add(session.Id);
            }
        }

        if (elsewhere.Count > 0)
        {
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var counts = await RecordedEvents.CountsAsync(db, elsewhere, cancellationToken);
            foreach (var session in sessions.Where(s => counts.ContainsKey(s.Id)))
            {
                session.EventCount = counts[session.Id];
            }
        }

        return sessions;
    }

    /// <summary>One page of a session's events from a sequence number on (0: its first page): long sessions load as they are read.</summary>
    public async Task<List<SessionEvent>> EventsPageAsync(Guid id, int fromSequence, int count, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await RecordedEvents.PageAsync(db, id, fromSequence, Math.Clamp(count, 1, MaxRows), cancellationToken);
    }

    /// <summary>
    /// What a replay's timeline needs of every event without loading its content: the sequence numbers in order,
    /// and its markers: denials, review holds, reviewers' decisions (at the first event after them), events that ran
    /// on an approval, masking hits and errors. A kind of marker repeats at most once per quarter percent of the
    /// timeline, so a session masked throughout does not draw 100,000 markers.
    /// </summary>
    /// <remarks><paramref name="withReviewers"/>: name who decided (for auditors and admins; a user replaying their own session is not told).</remarks>
    public async Task<(List<int> Sequences, List<TimelineMark> Marks)> TimelineAsync(Guid id, bool withReviewers, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var (sequences, marked) = await RecordedEvents.OutlineAsync(db, id, cancellationToken);
        var decided = await db.Reviews.AsNoTracking().Include(r => r.Decisions).Where(r => r.SessionId == id && r.DecidedAt != null)
            .ToListAsync(cancellationToken);

        var marks = new List<TimelineMark>();
        var drawn = new HashSet<(string, int)>();
        void Mark(int sequence, string kind, string label)
        {
            // An open session grows between the reads: a marker past the sequences read is left for the next reload.
            var index = sequences.BinarySearch(sequence);
            if (index >= 0 && drawn.Add((kind, (int)(400L * index / Math.Max(1, sequences.Count)))))
            {
                marks.Add(new(sequence, kind, label));
            }
        }

        foreach (var row in marked.Select(m => new { m.Sequence, m.Marks }))
        {
            if (row.Marks.HasFlag(EventMarks.Denied))
            {
                Mark(row.Sequence, "denied", "denied by a guardrail");
            }

            if (row.Marks.HasFlag(EventMarks.Held))
            {
                Mark(row.Sequence, "held", "held for review");
            }

            if (row.Marks.HasFlag(EventMarks.Approved))
            {
                Mark(row.Sequence, "approved", "ran on a reviewer's approval");
            }

            if (row.Marks.HasFlag(EventMarks.Error))
            {
                Mark(row.Sequence, "error", "error");
            }

            if (row.Marks.HasFlag(EventMarks.Masked))
            {
                Mark(row.Sequence, "masked", "values masked");
            }
        }

        foreach (var review in decided.OrderBy(r => r.DecidedAt))
        {
            if (sequences.Count == 0)
            {
                break;
            }

            var last = sequences[^1];
            var after = await RecordedEvents.FirstAtOrAfterAsync(db, id, review.DecidedAt!.Value, last, cancellationToken);
            var by = review.Status == ReviewStatus.Expired ? " without a decision"
                : withReviewers ? $" by {review.Decisions.OrderBy(d => d.At).LastOrDefault()?.Reviewer ?? "a reviewer"}" : "";
            // Every decision is shown: they are few, and each is what an auditor looks for.
            marks.Add(new(after ?? sequences[^1], review.Status == ReviewStatus.Approved ? "decision" : "decision-refused",
                $"review {review.Id.ToString()[..8]} ({review.RuleName}) {review.Status.ToString().ToLowerInvariant()}{by} at {review.DecidedAt:u}"));
        }

        return (sequences, marks);
    }

    /// <summary>Newest first; <paramref name="text"/> matches part of the actor, the action or the target.</summary>
    public async Task<List<AuditEvent>> AuditAsync(string? text, AuditOutcome? outcome, int limit, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.AuditEvents.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(text))
        {
            var t = text.Trim();
            query = query.Where(a => a.Actor.Contains(t) || a.Action.Contains(t) || (a.Target != null && a.Target.Contains(t)));
        }

        if (outcome is { } o)
        {
            query = query.Where(a => a.Outcome == o);
        }

        return await query.OrderByDescending(a => a.Id).Take(Math.Clamp(limit, 1, MaxRows)).ToListAsync(cancellationToken);
    }

    /// <summary>One page of the audit events that match, newest first, and how many match in all.</summary>
    public async Task<(List<AuditEvent> Events, int Total)> AuditPageAsync(AuditFilter filter, int skip, int take, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = filter.Apply(db.AuditEvents.AsNoTracking());
        var total = await query.CountAsync(cancellationToken);
        var events = await query.OrderByDescending(a => a.Id).Skip(Math.Max(0, skip)).Take(Math.Clamp(take, 1, MaxRows)).ToListAsync(cancellationToken);
        return (events, total);
    }
}
