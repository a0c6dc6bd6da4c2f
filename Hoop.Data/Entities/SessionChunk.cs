namespace Hoop.Data.Entities;

/// <summary>
/// Consecutive events of one session stored as one row: their frames (see <see cref="Records.EventChunk"/>),
/// compressed, with one MAC over the hash of its last event. Each event is still chained to the one before it;
/// the columns besides <see cref="Data"/> let lists, the timeline and filters skip the chunk without opening it.
/// </summary>
public sealed class SessionChunk
{
    public long Id { get; set; }
    public Guid SessionId { get; set; }
    public int FirstSequence { get; set; }
    public int LastSequence { get; set; }

    /// <summary>Events in the chunk (fewer than the sequence range when events were lost before they were written).</summary>
    public int Count { get; set; }

    public DateTime FirstAt { get; set; }
    public DateTime LastAt { get; set; }

    /// <summary>Every event's marks together: a chunk with none is skipped by the timeline and the outcome filter.</summary>
    public EventMarks Marks { get; set; }

    /// <summary>The marked events, as pairs of little-endian int32 (sequence, marks); empty when none.</summary>
    public byte[] Marked { get; set; } = [];

    /// <summary>How <see cref="Data"/> is written: <see cref="Records.EventChunk.Format"/> (frames, chain link v2, LZ4).</summary>
    public int Format { get; set; }

    /// <summary>Uncompressed length of <see cref="Data"/>.</summary>
    public int Length { get; set; }

    /// <summary>HMAC-SHA256 (hex) of the chunk's last event hash under the chain's MAC key.</summary>
    public required string Mac { get; set; }

    /// <summary>The compressed frames; last, so reading the other columns does not read it.</summary>
    public required byte[] Data { get; set; }
}
