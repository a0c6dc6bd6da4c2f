using System.Buffers;
using System.Buffers.Binary;
using Hoop.Proxy.Credentials;

namespace Hoop.Proxy.Http;

/// <summary>
/// The backend's side of an upgraded WebSocket connection: what the agent sends passes untouched; what the
/// backend sends is read frame by frame (RFC 6455 section 5.2) and each message's payload is scrubbed of the
/// stored secret. A message whose payload changed goes out re-fragmented, which the RFC allows an intermediary
/// (section 5.4): each piece as it arrives, its length set to what it now holds, so messages still stream.
/// Compressed frames (RSV1, permessage-deflate) cannot be searched: Hoop removes the extension from the agent's
/// handshake, and a backend that compresses anyway is cut off.
/// </summary>
internal sealed class WebSocketScrubbingStream(Stream upstream, SecretScrubber secrets, Action found) : FilterStream(upstream)
{
    private const int MaxHeader = 10; // server frames are unmasked: 2 bytes, then up to 8 of length

    private readonly byte[] _input = new byte[16 * 1024 + secrets.MaxFormBytes];
    private int _start;
    private int _end;
    private bool _upstreamEnded;

    private readonly ArrayBufferWriter<byte> _output = new(16 * 1024);
    private int _outOffset;

    // The frame being read, and the message it belongs to.
    private long _payloadLeft = -1;
    private bool _frameFin;
    private byte _frameOpcode;
    private byte _messageOpcode; // text or binary: what the current message's first piece goes out as
    private bool _messageStarted; // a piece of the current message has gone out (the next pieces are continuations)
    private readonly ArrayBufferWriter<byte> _carry = new(); // a tail that may begin a secret, waiting for the rest

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_outOffset == _output.WrittenCount)
        {
            _output.ResetWrittenCount();
            _outOffset = 0;
            if (!await ProduceAsync(cancellationToken))
            {
                return 0;
            }
        }

        var count = Math.Min(buffer.Length, _output.WrittenCount - _outOffset);
        _output.WrittenMemory.Slice(_outOffset, count).CopyTo(buffer);
        _outOffset += count;
        return count;
    }

    /// <summary>Turns what the backend sent next into output; false once the backend has closed.</summary>
    private async ValueTask<bool> ProduceAsync(CancellationToken cancellationToken)
    {
        if (_payloadLeft < 0)
        {
            // A frame header, and for a control frame its whole (at most 125-byte) payload.
            while (!TryReadHeader())
            {
                if (!await FillAsync(cancellationToken))
                {
                    return _end > _start ? throw new IOException("The backend's WebSocket connection ended inside a frame.") : false;
                }
            }

            if (_frameOpcode >= 8)
            {
                while (_end - _start < _payloadLeft)
                {
                    if (!await FillAsync(cancellationToken))
                    {
                        throw new IOException("The backend's WebSocket connection ended inside a control frame.");
                    }
                }

                WriteControlFrame(_input.AsSpan(_start, (int)_payloadLeft));
                _start += (int)_payloadLeft;
                _payloadLeft = -1;
                return true;
            }
        }

        if (_start == _end && _payloadLeft > 0 && !await FillAsync(cancellationToken))
        {
            throw new IOException("The backend's WebSocket connection ended inside a frame.");
        }

        var take = (int)Math.Min(_payloadLeft, _end - _start);
        var last = take == _payloadLeft && _frameFin;
        WriteDataPiece(_input.AsSpan(_start, take), last);
        _start += take;
        _payloadLeft -= take;
        if (_payloadLeft == 0)
        {
            _payloadLeft = -1;
        }

        return true;
    }

    private bool TryReadHeader()
    {
        var available = _input.AsSpan(_start, _end - _start);
        if (available.Length < 2)
        {
            return false;
        }

        if ((available[0] & 0x70) != 0)
        {
            throw new IOException("The backend sent a compressed (or extended) WebSocket frame, which Hoop cannot search for the stored secret.");
        }

        if ((available[1] & 0x80) != 0)
        {
            throw new IOException("The backend sent a masked WebSocket frame, which only clients may send.");
        }

        var (length, size) = (available[1] & 0x7F) switch
        {
            126 when available.Length >= 4 => (BinaryPrimitives.ReadUInt16BigEndian(available[2..]), 4),
            127 when available.Length >= MaxHeader => ((long)BinaryPrimitives.ReadUInt64BigEndian(available[2..]), MaxHeader),
            126 or 127 => (-1L, 0),
            var small => (small, 2),
        };
        if (length < 0)
        {
            return false;
        }

        _frameFin = (available[0] & 0x80) != 0;
        _frameOpcode = (byte)(available[0] & 0x0F);
        if (_frameOpcode is 1 or 2)
        {
            _messageOpcode = _frameOpcode;
        }

        _payloadLeft = length;
        _start += size;
        return true;
    }

    /// <summary>A piece of a text, binary or continuation frame's payload, scrubbed and sent as a fragment of its message.</summary>
    private void WriteDataPiece(ReadOnlySpan<byte> piece, bool last)
    {
        _carry.Write(piece);
        var scrubbed = new ArrayBufferWriter<byte>(_carry.WrittenCount + 16);
        if (secrets.Scrub(_carry.WrittenSpan, scrubbed, final: last, out var consumed) > 0)
        {
            found();
        }

        var kept = _carry.WrittenSpan[consumed..].ToArray();
        _carry.ResetWrittenCount();
        _carry.Write(kept);
        if (scrubbed.WrittenCount == 0 && !last)
        {
            return;
        }

        WriteFrame(last, _messageStarted ? (byte)0 : _messageOpcode, scrubbed.WrittenSpan);
        _messageStarted = !last;
    }

    private void WriteControlFrame(ReadOnlySpan<byte> payload)
    {
        var scrubbed = secrets.Scrub(payload, out var replaced);
        if (replaced > 0)
        {
            found();
        }

        // A control frame's payload is at most 125 bytes (a close reason could grow by the replacement).
        WriteFrame(true, _frameOpcode, scrubbed is null ? payload : scrubbed.AsSpan(0, Math.Min(scrubbed.Length, 125)));
    }

    private void WriteFrame(bool fin, byte opcode, ReadOnlySpan<byte> payload)
    {
        var header = _output.GetSpan(MaxHeader);
        header[0] = (byte)((fin ? 0x80 : 0) | opcode);
        int size;
        if (payload.Length < 126)
        {
            header[1] = (byte)payload.Length;
            size = 2;
        }
        else if (payload.Length <= ushort.MaxValue)
        {
            header[1] = 126;
            BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)payload.Length);
            size = 4;
        }
        else
        {
            header[1] = 127;
            BinaryPrimitives.WriteUInt64BigEndian(header[2..], (ulong)payload.Length);
            size = MaxHeader;
        }

        _output.Advance(size);
        _output.Write(payload);
    }

    private async ValueTask<bool> FillAsync(CancellationToken cancellationToken)
    {
        if (_upstreamEnded)
        {
            return false;
        }

        if (_start > 0)
        {
            _input.AsSpan(_start, _end - _start).CopyTo(_input);
            (_end, _start) = (_end - _start, 0);
        }

        var read = await Source.ReadAsync(_input.AsMemory(_end), cancellationToken);
        _end += read;
        _upstreamEnded = read == 0;
        return read > 0;
    }
}
