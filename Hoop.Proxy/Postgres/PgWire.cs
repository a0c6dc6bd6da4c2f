using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Text;

namespace Hoop.Proxy.Postgres;

/// <summary>
/// A frame that breaks the protocol, with the SQLSTATE to answer it with. Whoever catches it answers with an
/// ErrorResponse (where the peer can still read one) and closes the connection.
/// </summary>
internal sealed class PgProtocolException(string sqlState, string message) : Exception(message)
{
    public string SqlState => sqlState;
}

/// <summary>One message: its type byte (0 for a startup packet) and its body, without the length.</summary>
internal readonly record struct PgMessage(byte Type, ReadOnlySequence<byte> Body);

/// <summary>
/// The PostgreSQL wire protocol (version 3) as frames: reading them from a pipe with limits, and writing the
/// messages Hoop itself sends. What Hoop does not need to look at is never parsed.
/// </summary>
internal static class PgWire
{
    public const int ProtocolVersion3 = 196608;
    public const int SslRequestCode = 80877103;
    public const int GssEncRequestCode = 80877104;
    public const int CancelRequestCode = 80877102;

    /// <summary>PostgreSQL's own limit for authentication messages (a password, a SASL step).</summary>
    public const int MaxAuthenticationBytes = 65_535;

    /// <summary>PostgreSQL's own limit for a startup packet.</summary>
    public const int MaxStartupBytes = 10_000;

    /// <summary>The largest message Hoop relays; PostgreSQL allows up to 1 GB, which no agent's query needs.</summary>
    public const int MaxMessageBytes = 64 * 1024 * 1024;

    /// <summary>
    /// Takes one startup-phase packet (length, then a code and its parameters) off <paramref name="buffer"/>.
    /// False when it has not all arrived yet.
    /// </summary>
    public static bool TryReadStartup(ref ReadOnlySequence<byte> buffer, out int code, out ReadOnlySequence<byte> body)
    {
        code = 0;
        body = default;
        if (buffer.Length < 4)
        {
            return false;
        }

        var length = ReadInt32(buffer);
        if (length is < 8 or > MaxStartupBytes)
        {
            throw new PgProtocolException("08P01", $"invalid startup packet length {length} (8 to {MaxStartupBytes} bytes)");
        }

        if (buffer.Length < length)
        {
            return false;
        }

        code = ReadInt32(buffer.Slice(4));
        body = buffer.Slice(8, length - 8);
        buffer = buffer.Slice(length);
        return true;
    }

    /// <summary>Takes one typed message off <paramref name="buffer"/>; false when it has not all arrived yet.</summary>
    public static bool TryReadMessage(ref ReadOnlySequence<byte> buffer, out PgMessage message, out ReadOnlySequence<byte> frame) =>
        TryReadMessage(ref buffer, out message, out frame, MaxMessageBytes);

    /// <summary>As above, with a lower limit for messages that have no business being large (authentication).</summary>
    public static bool TryReadMessage(ref ReadOnlySequence<byte> buffer, out PgMessage message, out ReadOnlySequence<byte> frame, int maxBytes)
    {
        message = default;
        frame = default;
        if (buffer.Length < 5)
        {
            return false;
        }

        var type = buffer.FirstSpan[0];
        var length = ReadInt32(buffer.Slice(1));
        if (length < 4)
        {
            throw new PgProtocolException("08P01", $"invalid message length {length} for message type '{Printable(type)}'");
        }

        if (length > maxBytes)
        {
            throw new PgProtocolException("08P01", $"message of type '{Printable(type)}' is {length} bytes, over the limit of {maxBytes} bytes");
        }

        if (buffer.Length < 1L + length)
        {
            return false;
        }

        frame = buffer.Slice(0, 1 + length);
        message = new PgMessage(type, frame.Slice(5));
        buffer = buffer.Slice(frame.End);
        return true;
    }

    /// <summary>Reads one startup-phase packet, waiting for it; null at a clean end of stream before any byte.</summary>
    public static async Task<(int Code, byte[] Body)?> ReadStartupAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (TryReadStartup(ref buffer, out var code, out var body))
            {
                var copy = body.ToArray();
                reader.AdvanceTo(buffer.Start);
                return (code, copy);
            }

            if (result.IsCompleted)
            {
                if (result.Buffer.IsEmpty)
                {
                    return null;
                }

                throw new PgProtocolException("08P01", "incomplete startup packet");
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>
    /// Reads one startup-phase packet from the plaintext stream, taking no byte more (TLS may start right after it);
    /// null at a clean end of stream before any byte.
    /// </summary>
    public static async Task<(int Code, byte[] Body)?> ReadStartupAsync(Stream stream, CancellationToken cancellationToken)
    {
        var header = new byte[4];
        var read = await stream.ReadAtLeastAsync(header, 4, throwOnEndOfStream: false, cancellationToken);
        if (read == 0)
        {
            return null;
        }

        if (read < 4)
        {
            throw new PgProtocolException("08P01", "incomplete startup packet");
        }

        var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header);
        if (length is < 8 or > MaxStartupBytes)
        {
            throw new PgProtocolException("08P01", $"invalid startup packet length {length} (8 to {MaxStartupBytes} bytes)");
        }

        var rest = new byte[length - 4];
        if (await stream.ReadAtLeastAsync(rest, rest.Length, throwOnEndOfStream: false, cancellationToken) < rest.Length)
        {
            throw new PgProtocolException("08P01", "incomplete startup packet");
        }

        return (System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(rest), rest[4..]);
    }

    /// <summary>Reads one typed message, waiting for it, as a copy; null at a clean end of stream between messages.</summary>
    public static async Task<(byte Type, byte[] Body)?> ReadMessageAsync(PipeReader reader, CancellationToken cancellationToken, int maxBytes = MaxMessageBytes)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (TryReadMessage(ref buffer, out var message, out _, maxBytes))
            {
                var copy = message.Body.ToArray();
                reader.AdvanceTo(buffer.Start);
                return (message.Type, copy);
            }

            if (result.IsCompleted)
            {
                if (result.Buffer.IsEmpty)
                {
                    return null;
                }

                throw new PgProtocolException("08P01", "the connection ended in the middle of a message");
            }

            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    public static int ReadInt32(ReadOnlySequence<byte> buffer)
    {
        Span<byte> four = stackalloc byte[4];
        buffer.Slice(0, 4).CopyTo(four);
        return BinaryPrimitives.ReadInt32BigEndian(four);
    }

    /// <summary>The startup packet's name/value pairs.</summary>
    public static Dictionary<string, string> StartupParameters(ReadOnlySpan<byte> body)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        var reader = new PgReader(body);
        while (!reader.AtEnd)
        {
            var name = reader.CString();
            if (name.Length == 0)
            {
                break; // The terminating empty name.
            }

            if (parameters.Count >= 64)
            {
                throw new PgProtocolException("08P01", "too many startup parameters");
            }

            parameters[name] = reader.CString();
        }

        if (!reader.AtEnd)
        {
            throw new PgProtocolException("08P01", "invalid startup packet layout: data after the terminating empty name");
        }

        return parameters;
    }

    private static string Printable(byte type) => type is >= 0x20 and < 0x7f ? ((char)type).ToString() : $"0x{type:x2}";

    // Messages Hoop writes.

    public static byte[] Startup(IReadOnlyDictionary<string, string> parameters)
    {
        var body = new PgBuilder();
        body.Int32(ProtocolVersion3);
        foreach (var (name, value) in parameters)
        {
            body.CString(name).CString(value);
        }

        body.Byte(0);
        return body.Packet();
    }

    public static byte[] Code(int code) => new PgBuilder().Int32(code).Packet();

    public static byte[] Cancel(int processId, int secret) => new PgBuilder().Int32(CancelRequestCode).Int32(processId).Int32(secret).Packet();

    /// <summary>An ErrorResponse: severity ERROR or FATAL, SQLSTATE, message, optional detail and hint.</summary>
    public static byte[] Error(string severity, string sqlState, string message, string? detail = null, string? hint = null)
    {
        var body = new PgBuilder();
        body.Byte((byte)'S').CString(severity).Byte((byte)'V').CString(severity).Byte((byte)'C').CString(sqlState).Byte((byte)'M').CString(message);
        if (detail is not null)
        {
            body.Byte((byte)'D').CString(detail);
        }

        if (hint is not null)
        {
            body.Byte((byte)'H').CString(hint);
        }

        body.Byte(0);
        return body.Message((byte)'E');
    }

    public static byte[] Authentication(int kind, ReadOnlySpan<byte> data = default) => new PgBuilder().Int32(kind).Bytes(data).Message((byte)'R');

    public static byte[] BackendKeyData(int processId, int secret) => new PgBuilder().Int32(processId).Int32(secret).Message((byte)'K');

    public static byte[] NegotiateProtocolVersion(int newestMinor, IReadOnlyList<string> unrecognized)
    {
        var body = new PgBuilder().Int32(newestMinor).Int32(unrecognized.Count);
        foreach (var option in unrecognized)
        {
            body.CString(option);
        }

        return body.Message((byte)'v');
    }

    public static byte[] Query(string sql) => new PgBuilder().CString(sql).Message((byte)'Q');

    public static byte[] Password(ReadOnlySpan<byte> data) => new PgBuilder().Bytes(data).Message((byte)'p');

    public static readonly byte[] Terminate = [(byte)'X', 0, 0, 0, 4];

    /// <summary>Reads the fields of an ErrorResponse or NoticeResponse body.</summary>
    public static Dictionary<char, string> Fields(ReadOnlySpan<byte> body)
    {
        var fields = new Dictionary<char, string>();
        var reader = new PgReader(body);
        while (!reader.AtEnd)
        {
            var code = reader.Byte();
            if (code == 0)
            {
                break;
            }

            fields[(char)code] = reader.CString();
        }

        return fields;
    }
}

/// <summary>Reads the fields of a message body; throws <see cref="PgProtocolException"/> when one runs past its end.</summary>
public ref struct PgReader(ReadOnlySpan<byte> body)
{
    private readonly ReadOnlySpan<byte> _body = body;
    private int _at;

    public readonly bool AtEnd => _at >= _body.Length;
    public readonly int Position => _at;

    public byte Byte() => _at < _body.Length ? _body[_at++] : throw Truncated();

    public short Int16()
    {
        var value = _at + 2 <= _body.Length ? BinaryPrimitives.ReadInt16BigEndian(_body[_at..]) : throw Truncated();
        _at += 2;
        return value;
    }

    public int Int32()
    {
        var value = _at + 4 <= _body.Length ? BinaryPrimitives.ReadInt32BigEndian(_body[_at..]) : throw Truncated();
        _at += 4;
        return value;
    }

    public string CString()
    {
        var end = _body[_at..].IndexOf((byte)0);
        if (end < 0)
        {
            throw new PgProtocolException("08P01", "invalid message format: a string is not terminated");
        }

        var text = Encoding.UTF8.GetString(_body.Slice(_at, end));
        _at += end + 1;
        return text;
    }

    public ReadOnlySpan<byte> Bytes(int count)
    {
        if (count < 0 || _at + count > _body.Length)
        {
            throw Truncated();
        }

        var bytes = _body.Slice(_at, count);
        _at += count;
        return bytes;
    }

    public ReadOnlySpan<byte> Rest() => Bytes(_body.Length - _at);

    private static PgProtocolException Truncated() => new("08P01", "invalid message format: a field runs past the end of its message");
}

/// <summary>Builds a message body, then frames it with its type and length.</summary>
internal sealed class PgBuilder
{
    private readonly ArrayBufferWriter<byte> _body = new(64);

    public PgBuilder Byte(byte value)
    {
        _body.GetSpan(1)[0] = value;
        _body.Advance(1);
        return this;
    }

    public PgBuilder Int16(short value)
    {
        BinaryPrimitives.WriteInt16BigEndian(_body.GetSpan(2), value);
        _body.Advance(2);
        return this;
    }

    public PgBuilder Int32(int value)
    {
        BinaryPrimitives.WriteInt32BigEndian(_body.GetSpan(4), value);
        _body.Advance(4);
        return this;
    }

    public PgBuilder Bytes(ReadOnlySpan<byte> bytes)
    {
        _body.Write(bytes);
        return this;
    }

    public PgBuilder CString(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.AsSpan().IndexOf((byte)0) >= 0)
        {
            throw new ArgumentException("A protocol string cannot hold a NUL character.", nameof(text));
        }

        _body.Write(bytes);
        return Byte(0);
    }

    /// <summary>The body as a typed message: type, length (which counts itself), body.</summary>
    public byte[] Message(byte type)
    {
        var message = new byte[5 + _body.WrittenCount];
        message[0] = type;
        BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), 4 + _body.WrittenCount);
        _body.WrittenSpan.CopyTo(message.AsSpan(5));
        return message;
    }

    /// <summary>The body as an untyped packet (startup phase): length, body.</summary>
    public byte[] Packet()
    {
        var packet = new byte[4 + _body.WrittenCount];
        BinaryPrimitives.WriteInt32BigEndian(packet, 4 + _body.WrittenCount);
        _body.WrittenSpan.CopyTo(packet.AsSpan(4));
        return packet;
    }
}
