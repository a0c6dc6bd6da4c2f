using System.Buffers.Binary;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Records;
using Hoop.Data.Store;
using K4os.Compression.LZ4;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Tests.Support;

/// <summary>What the recorder stored, read the way Hoop reads it (event rows and chunks), and changed the way someone with the database file could.</summary>
internal static class Recorded
{
    /// <summary>Every recorded event in the store, or of one session, in the order written.</summary>
    public static async Task<List<SessionEvent>> EventsAsync(HoopDbContext db, Guid? session = null)
    {
        var sessions = session is { } one ? [one] : await db.Sessions.AsNoTracking().OrderBy(s => s.StartedAt).Select(s => s.Id).ToListAsync();
        var events = new List<SessionEvent>();
        foreach (var id in sessions)
        {
            events.AddRange(await RecordedEvents.ListAsync(db, id, CancellationToken.None));
        }

        return events;
    }

    /// <summary>
    /// Rewrites a session's chunks with <paramref name="change"/>'s events, as an attacker without the master key
    /// would: each event stays in the chunk it was in (a chunk left empty is deleted), its stored hash kept, or
    /// recomputed over the chain with <paramref name="recompute"/>; each chunk keeps its MAC (it cannot be made
    /// without the key).
    /// </summary>
    public static async Task RewriteAsync(HoopDbContext db, Guid session, Func<List<SessionEvent>, List<SessionEvent>> change, bool recompute = false)
    {
        var chunks = await db.SessionChunks.Where(c => c.SessionId == session).OrderBy(c => c.Id).ToListAsync();
        var home = chunks.SelectMany(c => EventChunk.Read(c).Select(e => (e.Sequence, Chunk: c))).ToDictionary(p => p.Sequence, p => p.Chunk);
        var events = change([.. chunks.SelectMany(EventChunk.Read)]);
        var previous = RecordChain.Genesis(session);
        foreach (var chunk in chunks)
        {
            var inChunk = events.Where(e => home[e.Sequence] == chunk).ToList();
            if (inChunk.Count == 0)
            {
                db.SessionChunks.Remove(chunk);
                continue;
            }

            var frames = new MemoryStream();
            foreach (var e in inChunk)
            {
                var frame = EventChunk.Frame(e);
                var hash = recompute ? EventChunk.Link(previous, e) : Convert.FromHexString(e.Hash!);
                var length = new byte[4];
                BinaryPrimitives.WriteInt32LittleEndian(length, frame.Length);
                frames.Write(length);
                frames.Write(frame);
                frames.Write(hash);
                previous = hash;
            }

            var data = frames.ToArray();
            var compressed = new byte[LZ4Codec.MaximumOutputSize(data.Length)];
            var written = LZ4Codec.Encode(data, compressed);
            (chunk.FirstSequence, chunk.LastSequence, chunk.Count) = (inChunk[0].Sequence, inChunk[^1].Sequence, inChunk.Count);
            (chunk.Length, chunk.Data) = (data.Length, compressed[..written]);
        }

        await db.SaveChangesAsync();
    }
}
