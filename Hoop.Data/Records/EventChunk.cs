using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Hoop.Data.Entities;
using K4os.Compression.LZ4;

namespace Hoop.Data.Records;

/// <summary>
/// How a <see cref="SessionChunk"/> holds its events. Each event is a frame, written as its length (int32), the
/// frame, then the event's chain hash (32 bytes). A frame is the event's fields with nothing that needs escaping:
/// sequence (int32), time (ticks, int64), duration (µs, int64), then kind, summary and content, each as a length
/// (int32) and UTF-8. All integers little-endian. An event's hash is SHA-256 of the previous event's hash and its
/// frame (chain link v2), so verifying hashes exactly the bytes stored. The whole is compressed as one LZ4 block.
/// </summary>
public static class EventChunk
{
    /// <summary>The one format written: frames as above, chain link v2, LZ4.</summary>
    public const int Format = 1;

    /// <summary>A chunk is closed when its frames reach this many bytes (or the recorder's batch ends).</summary>
    public const int TargetBytes = 64 * 1024;

    private const int HashBytes = 32;

    /// <summary>An event's frame, as hashed and stored (for verifying an event read from a chunk or an export).</summary>
    public static byte[] Frame(SessionEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + e.Content.Length);
        WriteFrame(buffer, e);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The chain hash of an event read from a chunk or an export: SHA-256 of the previous hash and the frame.</summary>
    public static byte[] Link(ReadOnlySpan<byte> previous, SessionEvent e)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(previous);
        sha.AppendData(Frame(e));
        return sha.GetHashAndReset();
    }

    /// <summary>Where one event's fields lie in a chunk's opened bytes (<see cref="Open"/>).</summary>
    public readonly record struct FrameLayout(int Sequence, long AtTicks, long DurationMicroseconds, Range Kind, Range Summary, Range Content, Range Hash);

    /// <summary>The chunk's frames, decompressed; throws <see cref="InvalidDataException"/> when the row was changed so it no longer opens.</summary>
    public static byte[] Open(SessionChunk chunk)
    {
        if (chunk.Format != Format)
        {
            throw new InvalidDataException($"chunk {chunk.Id} has format {chunk.Format}, which this version of Hoop does not read");
        }

        var data = new byte[chunk.Length];
        if (LZ4Codec.Decode(chunk.Data, data) != data.Length)
        {
            throw new InvalidDataException($"chunk {chunk.Id} does not decompress to its recorded length: it was changed in the store");
        }

        return data;
    }

    /// <summary>The layout of every frame in <paramref name="data"/> (<see cref="Open"/>), checked to stay inside it.</summary>
    public static List<FrameLayout> Layout(byte[] data)
    {
        var frames = new List<FrameLayout>(data.Length / 1024 + 1);
        var at = 0;
        while (at < data.Length)
        {
            var length = data.Length - at >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at)) : -1;
            if (length < 32 || data.Length - at - 4 - HashBytes < length)
            {
                throw new InvalidDataException("a chunk holds a cut frame: it was changed in the store");
            }

            var frame = data.AsSpan(at + 4, length);
            var field = at + 4 + 20;
            var end = at + 4 + length;
            frames.Add(new FrameLayout(BinaryPrimitives.ReadInt32LittleEndian(frame), BinaryPrimitives.ReadInt64LittleEndian(frame[4..]),
                BinaryPrimitives.ReadInt64LittleEndian(frame[12..]), Field(data, ref field, end), Field(data, ref field, end), Field(data, ref field, end),
                end..(end + HashBytes)));
            at = end + HashBytes;
        }

        return frames;
    }

    private static Range Field(byte[] data, ref int at, int end)
    {
        var length = end - at >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(at)) : -1;
        if (length < 0 || length > end - at - 4)
        {
            throw new InvalidDataException("a frame's field runs past the frame: the chunk was changed in the store");
        }

        var range = (at + 4)..(at + 4 + length);
        at += 4 + length;
        return range;
    }

    /// <summary>
    /// The chunk's events, in the order written, with the hash stored beside each (<see cref="SessionEvent.Chain"/>
    /// 2). The last event carries the chunk's MAC (an empty one if the row lost it, so a check of it fails); the
    /// others carry none, since the MAC of the last hash vouches for every link before it.
    /// </summary>
    public static List<SessionEvent> Read(SessionChunk chunk)
    {
        var data = Open(chunk);
        var marks = MarksOf(chunk.Marked);
        var events = new List<SessionEvent>(chunk.Count);
        foreach (var f in Layout(data))
        {
            events.Add(new SessionEvent
            {
                SessionId = chunk.SessionId,
                Sequence = f.Sequence,
                At = new DateTime(f.AtTicks, DateTimeKind.Utc),
                DurationMicroseconds = f.DurationMicroseconds,
                Kind = Encoding.UTF8.GetString(data.AsSpan(f.Kind)),
                Summary = Encoding.UTF8.GetString(data.AsSpan(f.Summary)),
                Content = Encoding.UTF8.GetString(data.AsSpan(f.Content)),
                Hash = Convert.ToHexStringLower(data.AsSpan(f.Hash)),
                Marks = marks.GetValueOrDefault(f.Sequence),
                Chain = 2,
            });
        }

        if (events.Count > 0)
        {
            events[^1].Mac = chunk.Mac ?? "";
        }

        return events;
    }

    private static Dictionary<int, EventMarks> MarksOf(byte[] marked) => Marked(marked).ToDictionary(m => m.Sequence, m => m.Marks);

    /// <summary>The marked events of a chunk's <see cref="SessionChunk.Marked"/> column: (sequence, marks) pairs of little-endian int32.</summary>
    public static IEnumerable<(int Sequence, EventMarks Marks)> Marked(byte[] marked)
    {
        for (var i = 0; i + 8 <= marked.Length; i += 8)
        {
            yield return (BinaryPrimitives.ReadInt32LittleEndian(marked.AsSpan(i)), (EventMarks)BinaryPrimitives.ReadInt32LittleEndian(marked.AsSpan(i + 4)));
        }
    }

    internal static void WriteFrame(IBufferWriter<byte> buffer, SessionEvent e)
    {
        var head = buffer.GetSpan(20);
        BinaryPrimitives.WriteInt32LittleEndian(head, e.Sequence);
        BinaryPrimitives.WriteInt64LittleEndian(head[4..], e.At.Ticks);
        BinaryPrimitives.WriteInt64LittleEndian(head[12..], e.DurationMicroseconds);
        buffer.Advance(20);
        WriteString(buffer, e.Kind);
        WriteString(buffer, e.Summary);
        WriteString(buffer, e.Content);
    }

    private static void WriteString(IBufferWriter<byte> buffer, string value)
    {
        var span = buffer.GetSpan(4 + Encoding.UTF8.GetMaxByteCount(value.Length));
        var length = Encoding.UTF8.GetBytes(value, span[4..]);
        BinaryPrimitives.WriteInt32LittleEndian(span, length);
        buffer.Advance(4 + length);
    }

    /// <summary>
    /// Gathers one session's events into chunks for the recorder (one writer, so one instance, its buffers reused):
    /// <see cref="Append"/> frames, chains and hashes an event; <see cref="Close"/> compresses what was appended.
    /// </summary>
    public sealed class Writer : IDisposable
    {
        private readonly ArrayBufferWriter<byte> _frames = new(TargetBytes + 16 * 1024);
        private readonly ArrayBufferWriter<byte> _marked = new(64);
        private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private byte[] _compressed = new byte[LZ4Codec.MaximumOutputSize(TargetBytes + 16 * 1024)];
        private int _first, _last, _count;
        private DateTime _firstAt, _lastAt;
        private EventMarks _marks;

        /// <summary>Bytes of frames appended since the last <see cref="Close"/>.</summary>
        public int Length => _frames.WrittenCount;

        /// <summary>Appends the event chained to <paramref name="previous"/>; its hash is written to <paramref name="hash"/> (32 bytes).</summary>
        public void Append(SessionEvent e, ReadOnlySpan<byte> previous, Span<byte> hash)
        {
            var start = _frames.WrittenCount;
            _frames.GetSpan(4);
            _frames.Advance(4); // The length, written once the frame is.
            WriteFrame(_frames, e);
            var frameLength = _frames.WrittenCount - start - 4;
            _sha.AppendData(previous);
            _sha.AppendData(_frames.WrittenSpan.Slice(start + 4, frameLength));
            _sha.GetHashAndReset(hash);
            _frames.Write(hash[..HashBytes]);
            // ArrayBufferWriter's written memory is its own array: patching the length in place is safe.
            BinaryPrimitives.WriteInt32LittleEndian(System.Runtime.InteropServices.MemoryMarshal.AsMemory(_frames.WrittenMemory).Span[start..], frameLength);

            if (_count == 0)
            {
                (_first, _firstAt) = (e.Sequence, e.At);
            }

            (_last, _lastAt) = (e.Sequence, e.At);
            _count++;
            if (e.Marks != EventMarks.None)
            {
                var pair = _marked.GetSpan(8);
                BinaryPrimitives.WriteInt32LittleEndian(pair, e.Sequence);
                BinaryPrimitives.WriteInt32LittleEndian(pair[4..], (int)e.Marks);
                _marked.Advance(8);
                _marks |= e.Marks;
            }
        }

        /// <summary>The row for what was appended since the last close (<paramref name="mac"/>: of the last hash), and a fresh start.</summary>
        public SessionChunk Close(Guid sessionId, string mac)
        {
            var frames = _frames.WrittenSpan;
            if (_compressed.Length < LZ4Codec.MaximumOutputSize(frames.Length))
            {
                _compressed = new byte[LZ4Codec.MaximumOutputSize(frames.Length)];
            }

            // LZ4's fast level: Brotli at quality 1 stored no less of recorded exchanges (their chain hashes do not
            // compress) and took several times as long to open, which the search index and replay pay on every chunk
            // (bench/recording.sh).
            var compressed = LZ4Codec.Encode(frames, _compressed, LZ4Level.L00_FAST);

            var chunk = new SessionChunk
            {
                SessionId = sessionId,
                FirstSequence = _first,
                LastSequence = _last,
                Count = _count,
                FirstAt = _firstAt,
                LastAt = _lastAt,
                Marks = _marks,
                Marked = _marked.WrittenSpan.ToArray(),
                Format = Format,
                Length = frames.Length,
                Mac = mac,
                Data = _compressed.AsSpan(0, compressed).ToArray(),
            };
            _frames.ResetWrittenCount();
            _marked.ResetWrittenCount();
            (_count, _marks) = (0, EventMarks.None);
            return chunk;
        }

        /// <summary>Drops what was appended (a batch that failed is chained and written again from the start).</summary>
        public void Reset()
        {
            _frames.ResetWrittenCount();
            _marked.ResetWrittenCount();
            (_count, _marks) = (0, EventMarks.None);
        }

        public void Dispose() => _sha.Dispose();
    }
}
