using System.Text;
using Hoop.Proxy.Masking;

namespace Hoop.Proxy.Http;

/// <summary>
/// A stream of lines (server-sent events, JSON lines) masked as it passes: each complete line is masked and handed
/// on at once; a line longer than the masking limit fails the stream closed. Lines are split at the '\n' byte,
/// which never occurs inside a multi-byte UTF-8 character.
/// </summary>
internal sealed class MaskedLinesStream(Stream source, Masker masker, Masker.BodyKind kind, int maxLineBytes, MaskingCounts counts) : FilterStream(source)
{
    private readonly byte[] _chunk = new byte[16 * 1024];
    private readonly MemoryStream _line = new();
    private byte[] _out = [];
    private int _outOffset;
    private bool _ended;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_outOffset == _out.Length)
        {
            if (_ended)
            {
                return 0;
            }

            var read = await Source.ReadAsync(_chunk, cancellationToken);
            var masked = new MemoryStream();
            var start = 0;
            for (var i = 0; i < read; i++)
            {
                if (_chunk[i] == (byte)'\n')
                {
                    _line.Write(_chunk, start, i - start);
                    WriteMasked(masked, appendBreak: true);
                    start = i + 1;
                }
            }

            _line.Write(_chunk, start, read - start);
            if (_line.Length > maxLineBytes)
            {
                throw new MaskingException($"A line of the stream is longer than {maxLineBytes / 1024} KiB, so it cannot be masked; the stream was cut.");
            }

            if (read == 0)
            {
                _ended = true;
                if (_line.Length > 0)
                {
                    WriteMasked(masked, appendBreak: false);
                }
            }

            (_out, _outOffset) = (masked.ToArray(), 0);
        }

        var count = Math.Min(buffer.Length, _out.Length - _outOffset);
        _out.AsMemory(_outOffset, count).CopyTo(buffer);
        _outOffset += count;
        return count;
    }

    private void WriteMasked(MemoryStream to, bool appendBreak)
    {
        var text = Encoding.UTF8.GetString(_line.GetBuffer(), 0, (int)_line.Length);
        _line.SetLength(0);
        string masked;
        try
        {
            masked = masker.MaskLineKeepingBreak(text, kind, counts);
        }
        catch (Exception e) when (e is not MaskingException)
        {
            throw new MaskingException($"Masking failed ({e.GetType().Name}); the stream was cut.");
        }

        to.Write(Encoding.UTF8.GetBytes(appendBreak ? masked + "\n" : masked));
    }
}
