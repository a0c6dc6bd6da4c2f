namespace Hoop.Proxy.Http;

/// <summary>
/// A forward-only stream that reads from <c>source</c> through a subclass's async read (which changes what passes)
/// and owns it. Writes go to the source as they are: for an upgraded connection, the agent's direction.
/// Subclasses give only <see cref="ReadAsync(Memory{byte}, CancellationToken)"/>.
/// </summary>
internal abstract class FilterStream(Stream source) : Stream
{
    protected Stream Source => source;

    public override abstract ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => source.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        source.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => source.Write(buffer, offset, count);

    public override Task FlushAsync(CancellationToken cancellationToken) => source.FlushAsync(cancellationToken);

    public override void Flush() => source.Flush();

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => source.CanWrite;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            source.Dispose();
        }

        base.Dispose(disposing);
    }
}
