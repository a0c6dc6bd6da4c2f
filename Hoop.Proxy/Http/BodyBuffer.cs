namespace Hoop.Proxy.Http;

/// <summary>Reading a body into memory up to a limit, and putting what was read back in front of the rest.</summary>
internal static class BodyBuffer
{
    /// <summary>
    /// Up to the limit; complete is false when the body goes on past it. With the declared <paramref name="length"/>
    /// of a body within the limit, it is read straight into an array of that size (the usual case: no copies).
    /// </summary>
    public static async Task<(byte[] Bytes, bool Complete)> ReadAsync(Stream body, int maxBytes, CancellationToken cancellationToken, long? length = null)
    {
        var buffer = new MemoryStream();
        if (length is { } declared && declared <= maxBytes)
        {
            var exact = new byte[declared];
            var filled = await body.ReadAtLeastAsync(exact, exact.Length, throwOnEndOfStream: false, cancellationToken);
            if (filled < exact.Length)
            {
                return (exact[..filled], true); // Shorter than declared: what there is.
            }

            var probe = new byte[1];
            if (await body.ReadAsync(probe, cancellationToken) == 0)
            {
                return (exact, true);
            }

            // Longer than declared: read on as for an undeclared length.
            buffer.Write(exact);
            buffer.Write(probe);
        }

        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            while (buffer.Length <= maxBytes)
            {
                var read = await body.ReadAsync(chunk, cancellationToken);
                if (read == 0)
                {
                    return (buffer.ToArray(), true);
                }

                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }

        return (buffer.ToArray(), false);
    }

    /// <summary>What was already read, then the rest of the stream.</summary>
    public sealed class PrefixedStream(byte[] prefix, Stream rest) : FilterStream(rest)
    {
        private int _offset;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset < prefix.Length)
            {
                var count = Math.Min(buffer.Length, prefix.Length - _offset);
                prefix.AsMemory(_offset, count).CopyTo(buffer);
                _offset += count;
                return count;
            }

            return await Source.ReadAsync(buffer, cancellationToken);
        }

    }
}
