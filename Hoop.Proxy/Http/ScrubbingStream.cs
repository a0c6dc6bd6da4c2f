using System.Buffers;
using Hoop.Proxy.Credentials;

namespace Hoop.Proxy.Http;

/// <summary>
/// A backend's body, as a stream, with the stored secret replaced wherever it occurs, also when it is split
/// across reads: a tail that could begin a secret waits for the next read. Only such a tail waits, so a stream of
/// events (an LLM's tokens) still goes out as it comes. Writes (an upgraded
/// connection's other direction) pass as they are.
/// </summary>
internal sealed class ScrubbingStream(Stream source, SecretScrubber secrets, Action found) : FilterStream(source)
{
    private readonly byte[] _input = new byte[16 * 1024 + secrets.MaxFormBytes];
    private readonly ArrayBufferWriter<byte> _output = new(16 * 1024);
    private int _kept;
    private int _outOffset;
    private bool _ended;

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_outOffset == _output.WrittenCount)
        {
            if (_ended)
            {
                return 0;
            }

            _output.ResetWrittenCount();
            _outOffset = 0;
            var read = await Source.ReadAsync(_input.AsMemory(_kept, _input.Length - _kept - secrets.MaxFormBytes), cancellationToken);
            _ended = read == 0;
            var data = _input.AsSpan(0, _kept + read);
            if (secrets.Scrub(data, _output, final: _ended, out var consumed) > 0)
            {
                found();
            }

            // What could be the start of a secret moves to the front, to meet the rest of it.
            data[consumed..].CopyTo(_input);
            _kept = data.Length - consumed;
        }

        var count = Math.Min(buffer.Length, _output.WrittenCount - _outOffset);
        _output.WrittenMemory.Slice(_outOffset, count).CopyTo(buffer);
        _outOffset += count;
        return count;
    }
}
