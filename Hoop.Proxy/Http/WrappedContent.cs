using System.Net;

namespace Hoop.Proxy.Http;

/// <summary>
/// A backend's content read through a stream of Hoop's (a capture, a scrub), made when it is first read. It carries
/// the inner content's headers, its length only when the wrapping stream keeps it (keepsLength),
/// and disposes the inner content with itself.
/// </summary>
internal sealed class WrappedContent : HttpContent
{
    private readonly HttpContent _inner;
    private readonly Func<Stream, Stream> _wrap;

    public WrappedContent(HttpContent inner, Func<Stream, Stream> wrap, bool keepsLength)
    {
        _inner = inner;
        _wrap = wrap;
        foreach (var (name, values) in inner.Headers)
        {
            if (keepsLength || !name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                Headers.TryAddWithoutValidation(name, values);
            }
        }
    }

    protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
        _wrap(await _inner.ReadAsStreamAsync(cancellationToken));

    protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        await using var source = await CreateContentReadStreamAsync(cancellationToken);
        await source.CopyToAsync(stream, cancellationToken);
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
