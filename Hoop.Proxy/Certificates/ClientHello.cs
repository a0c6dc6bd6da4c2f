using System.Buffers;
using System.Buffers.Binary;

namespace Hoop.Proxy.Certificates;

/// <summary>
/// Reads the ALPN protocols a TLS client offers from its ClientHello, before the handshake: SslStream does not tell
/// the certificate callback, and tls-alpn-01 must be answered with another certificate than normal clients get.
/// Only a ClientHello in one record is read; anything else is "not offered" (a normal handshake follows).
/// </summary>
public static class ClientHello
{
    private const byte Handshake = 0x16;
    private const byte ClientHelloType = 0x01;
    private const ushort AlpnExtension = 0x0010;

    /// <summary>Bytes needed before <see cref="TryReadAlpn"/> can answer: the record header says how many.</summary>
    public static int RecordLength(ReadOnlySequence<byte> data)
    {
        Span<byte> header = stackalloc byte[5];
        if (data.Length < 5)
        {
            return 5;
        }

        data.Slice(0, 5).CopyTo(header);
        return header[0] == Handshake ? 5 + BinaryPrimitives.ReadUInt16BigEndian(header[3..]) : 5;
    }

    /// <summary>The offered ALPN protocol names, or an empty list when there are none or the bytes are not a ClientHello.</summary>
    public static List<string> TryReadAlpn(ReadOnlySequence<byte> data)
    {
        var protocols = new List<string>();
        var record = data.Length > 16_389 ? data.Slice(0, 16_389).ToArray() : data.ToArray();
        var reader = new Reader(record);
        if (!reader.Byte(out var type) || type != Handshake || !reader.Skip(2) || !reader.UInt16(out var length) || reader.Left < length)
        {
            return protocols;
        }

        if (!reader.Byte(out var handshake) || handshake != ClientHelloType || !reader.Skip(3) // handshake length
            || !reader.Skip(2 + 32) // client version, random
            || !reader.Vector8(out _) // session id
            || !reader.Vector16(out _) // cipher suites
            || !reader.Vector8(out _) // compression methods
            || !reader.UInt16(out var extensionsLength) || reader.Left < extensionsLength)
        {
            return protocols;
        }

        var extensions = new Reader(reader.Take(extensionsLength));
        while (extensions.UInt16(out var extension) && extensions.Vector16(out var body))
        {
            if (extension != AlpnExtension)
            {
                continue;
            }

            var list = new Reader(body);
            if (list.Vector16(out var names))
            {
                var entries = new Reader(names);
                while (entries.Vector8(out var name))
                {
                    protocols.Add(System.Text.Encoding.ASCII.GetString(name));
                }
            }
        }

        return protocols;
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _data = data;

        public readonly int Left => _data.Length;

        public bool Byte(out byte value)
        {
            value = 0;
            if (_data.Length < 1)
            {
                return false;
            }

            value = _data[0];
            _data = _data[1..];
            return true;
        }

        public bool UInt16(out ushort value)
        {
            value = 0;
            if (_data.Length < 2)
            {
                return false;
            }

            value = BinaryPrimitives.ReadUInt16BigEndian(_data);
            _data = _data[2..];
            return true;
        }

        public bool Skip(int count)
        {
            if (_data.Length < count)
            {
                return false;
            }

            _data = _data[count..];
            return true;
        }

        public ReadOnlySpan<byte> Take(int count)
        {
            var taken = _data[..count];
            _data = _data[count..];
            return taken;
        }

        public bool Vector8(out ReadOnlySpan<byte> value)
        {
            value = default;
            if (!Byte(out var length) || _data.Length < length)
            {
                return false;
            }

            value = Take(length);
            return true;
        }

        public bool Vector16(out ReadOnlySpan<byte> value)
        {
            value = default;
            if (!UInt16(out var length) || _data.Length < length)
            {
                return false;
            }

            value = Take(length);
            return true;
        }
    }
}
