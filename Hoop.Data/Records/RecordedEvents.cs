using System.Runtime.CompilerServices;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Data.Records;

/// <summary>
/// The one way recorded events are read, wherever they are stored: event rows (written before chunks existed, one
/// row per event) and <see cref="SessionChunk"/>s. Every reader (replay, lists, verification, export, search,
/// sealing) goes through here, so both keep their meaning. Events come back untracked.
/// </summary>
public static class RecordedEvents
{
    /// <summary>A session's events in the order they were written (the order their chain follows).</summary>
    public static async IAsyncEnumerable<SessionEvent> AllAsync(HoopDbContext db, Guid session, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var e in db.SessionEvents.AsNoTracking().Where(e => e.SessionId == session).OrderBy(e => e.Id).AsAsyncEnumerable()
            .WithCancellation(cancellationToken))
        {
            yield return e;
        }

        await foreach (var chunk in db.SessionChunks.AsNoTracking().Where(c => c.SessionId == session).OrderBy(c => c.Id).AsAsyncEnumerable()
            .WithCancellation(cancellationToken))
        {
            foreach (var e in EventChunk.Read(chunk))
            {
                yield return e;
            }
        }
    }

    /// <summary>A session's events as a list, in the order written.</summary>
    public static async Task<List<SessionEvent>> ListAsync(HoopDbContext db, Guid session, CancellationToken cancellationToken)
    {
        var events = new List<SessionEvent>();
        await foreach (var e in AllAsync(db, session, cancellationToken))
        {
            events.Add(e);
        }

        return events;
    }

    /// <summary>Up to <paramref name="count"/> events from sequence <paramref name="fromSequence"/> on, by sequence: only the chunks they are in are opened.</summary>
    public static async Task<List<SessionEvent>> PageAsync(HoopDbContext db, Guid session, int fromSequence, int count, CancellationToken cancellationToken)
    {
        var page = await db.SessionEvents.AsNoTracking().Where(e => e.SessionId == session && e.Sequence >= fromSequence).OrderBy(e => e.Sequence)
            .Take(count).ToListAsync(cancellationToken);
        var fromChunks = 0;
        await foreach (var chunk in db.SessionChunks.AsNoTracking().Where(c => c.SessionId == session && c.LastSequence >= fromSequence)
            .OrderBy(c => c.FirstSequence).AsAsyncEnumerable().WithCancellation(cancellationToken))
        {
            foreach (var e in EventChunk.Read(chunk).Where(e => e.Sequence >= fromSequence))
            {
                page.Add(e);
                fromChunks++;
            }

            if (fromChunks >= count)
            {
                break;
            }
        }

        return [.. page.OrderBy(e => e.Sequence).Take(count)];
    }

    /// <summary>How many events each session has stored so far.</summary>
    public static async Task<Dictionary<Guid, int>> CountsAsync(HoopDbContext db, IReadOnlyCollection<Guid> sessions, CancellationToken cancellationToken)
    {
        var counts = await db.SessionEvents.Where(e => sessions.Contains(e.SessionId)).GroupBy(e => e.SessionId)
            .Select(g => new { g.Key, Count = g.Count() }).ToDictionaryAsync(g => g.Key, g => g.Count, cancellationToken);
        foreach (var chunked in await db.SessionChunks.Where(c => sessions.Contains(c.SessionId)).GroupBy(c => c.SessionId)
            .Select(g => new { g.Key, Count = g.Sum(c => c.Count) }).ToListAsync(cancellationToken))
        {
            counts[chunked.Key] = counts.GetValueOrDefault(chunked.Key) + chunked.Count;
        }

        return counts;
    }

    /// <summary>The hash of the session's last event written, or null when it has none.</summary>
    public static async Task<string?> LastHashAsync(HoopDbContext db, Guid session, CancellationToken cancellationToken)
    {
        var chunk = await db.SessionChunks.AsNoTracking().Where(c => c.SessionId == session).OrderByDescending(c => c.Id).FirstOrDefaultAsync(cancellationToken);
        return chunk is not null
            ? EventChunk.Read(chunk)[^1].Hash
            : await db.SessionEvents.Where(e => e.SessionId == session).OrderByDescending(e => e.Id).Select(e => e.Hash).FirstOrDefaultAsync(cancellationToken);
    }

    /// <summary>
    /// What a replay's timeline is drawn from without reading content: every sequence number in order, and the
    /// sequence and marks of each marked event. Chunks give theirs from their own columns; only a chunk with a gap
    /// in its sequence numbers is opened.
    /// </summary>
    public static async Task<(List<int> Sequences, List<(int Sequence, EventMarks Marks)> Marked)> OutlineAsync(HoopDbContext db, Guid session,
        CancellationToken cancellationToken)
    {
        var rows = db.SessionEvents.AsNoTracking().Where(e => e.SessionId == session);
        // From the (session, sequence) index and the partial index of marked events.
        var sequences = await rows.OrderBy(e => e.Sequence).Select(e => e.Sequence).ToListAsync(cancellationToken);
        var marked = (await rows.Where(e => e.Marks != EventMarks.None).OrderBy(e => e.Sequence).Select(e => new { e.Sequence, e.Marks })
            .ToListAsync(cancellationToken)).Select(e => (e.Sequence, e.Marks)).ToList();

        var fromRows = sequences.Count;
        var chunks = await db.SessionChunks.AsNoTracking().Where(c => c.SessionId == session).OrderBy(c => c.FirstSequence)
            .Select(c => new { c.Id, c.FirstSequence, c.LastSequence, c.Count, c.Marked }).ToListAsync(cancellationToken);
        foreach (var chunk in chunks)
        {
            if (chunk.Count == chunk.LastSequence - chunk.FirstSequence + 1)
            {
                sequences.AddRange(Enumerable.Range(chunk.FirstSequence, chunk.Count));
            }
            else
            {
                var whole = await db.SessionChunks.AsNoTracking().FirstAsync(c => c.Id == chunk.Id, cancellationToken);
                sequences.AddRange(EventChunk.Read(whole).Select(e => e.Sequence));
            }

            marked.AddRange(EventChunk.Marked(chunk.Marked));
        }

        if (fromRows > 0 && chunks.Count > 0)
        {
            sequences.Sort();
            marked.Sort();
        }

        return (sequences, marked);
    }

    /// <summary>The first event at or after <paramref name="at"/> and at most <paramref name="lastSequence"/>, or null.</summary>
    public static async Task<int?> FirstAtOrAfterAsync(HoopDbContext db, Guid session, DateTime at, int lastSequence, CancellationToken cancellationToken)
    {
        var row = await db.SessionEvents.Where(e => e.SessionId == session && e.At >= at && e.Sequence <= lastSequence)
            .MinAsync(e => (int?)e.Sequence, cancellationToken);
        var chunk = await db.SessionChunks.AsNoTracking().Where(c => c.SessionId == session && c.LastAt >= at && c.FirstSequence <= lastSequence)
            .OrderBy(c => c.FirstSequence).FirstOrDefaultAsync(cancellationToken);
        var inChunk = chunk is null ? null
            : EventChunk.Read(chunk).Where(e => e.At >= at && e.Sequence <= lastSequence).Select(e => (int?)e.Sequence).FirstOrDefault();
        return row is null ? inChunk : inChunk is null ? row : Math.Min(row.Value, inChunk.Value);
    }

    /// <summary>
    /// Whether any event's content or summary holds <paramref name="text"/> (ordinal, as stored, that is masked):
    /// event rows are searched by the store, chunks are opened one by one until one holds it.
    /// </summary>
    public static async Task<bool> ContainsAsync(HoopDbContext db, Guid session, string text, CancellationToken cancellationToken)
    {
        if (await db.SessionEvents.AnyAsync(e => e.SessionId == session && (e.Content.Contains(text) || e.Summary.Contains(text)), cancellationToken))
        {
            return true;
        }

        await foreach (var chunk in db.SessionChunks.AsNoTracking().Where(c => c.SessionId == session).OrderBy(c => c.Id).AsAsyncEnumerable()
            .WithCancellation(cancellationToken))
        {
            if (EventChunk.Read(chunk).Any(e => e.Content.Contains(text, StringComparison.Ordinal) || e.Summary.Contains(text, StringComparison.Ordinal)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Events recorded since <paramref name="since"/>, counted per session and hour (UTC), with how many of them a
    /// guardrail denied or held and how many had values masked: for the dashboard's charts. Chunks are counted from
    /// their own columns (an hour is the one its first event fell in; a chunk spans one recorder batch), never opened.
    /// </summary>
    public static async Task<List<HourlyActivity>> HourlyAsync(HoopDbContext db, DateTime since, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<(Guid, DateTime), HourlyActivity>();
        void Add(Guid session, DateTime at, int events, IEnumerable<EventMarks> marks)
        {
            var hour = new DateTime(at.Year, at.Month, at.Day, at.Hour, 0, 0, DateTimeKind.Utc);
            var (denied, held, masked) = (0, 0, 0);
            foreach (var m in marks)
            {
                denied += m.HasFlag(EventMarks.Denied) ? 1 : 0;
                held += m.HasFlag(EventMarks.Held) ? 1 : 0;
                masked += m.HasFlag(EventMarks.Masked) ? 1 : 0;
            }

            var c = counts.GetValueOrDefault((session, hour)) ?? new HourlyActivity(session, hour, 0, 0, 0, 0);
            counts[(session, hour)] = c with { Events = c.Events + events, Denied = c.Denied + denied, Held = c.Held + held, Masked = c.Masked + masked };
        }

        foreach (var e in await db.SessionEvents.AsNoTracking().Where(e => e.At >= since).Select(e => new { e.SessionId, e.At, e.Marks })
                     .ToListAsync(cancellationToken))
        {
            Add(e.SessionId, e.At, 1, [e.Marks]);
        }

        // A chunk's marked events are read only when it has any (its Marks column says so).
        foreach (var c in await db.SessionChunks.AsNoTracking().Where(c => c.FirstAt >= since)
                     .Select(c => new { c.SessionId, c.FirstAt, c.Count, Marked = c.Marks != EventMarks.None ? c.Marked : null }).ToListAsync(cancellationToken))
        {
            Add(c.SessionId, c.FirstAt, c.Count, EventChunk.Marked(c.Marked ?? []).Select(m => m.Marks));
        }

        return [.. counts.Values];
    }
}

/// <summary>One session's events in one hour (UTC): how many, and how many were denied, held for review, or masked.</summary>
public sealed record HourlyActivity(Guid SessionId, DateTime Hour, int Events, int Denied, int Held, int Masked);
