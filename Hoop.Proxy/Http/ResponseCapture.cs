using System.Net;
using Hoop.Proxy.Recording;

namespace Hoop.Proxy.Http;

/// <summary>
/// Where the first bytes of a backend's response are kept for the recording. The copy is taken as YARP reads
/// the backend's content, so the agent's response stream stays Kestrel's own (no wrapper on the hot path).
/// </summary>
internal sealed class ResponseCapture(int maxBytes)
{
    public int MaxBytes => maxBytes;

    /// <summary>Set once the backend's body starts to be read.</summary>
    public BodyCapture? Body { get; private set; }

    /// <summary>Has the response's content keep its first bytes here as it is read (not an upgraded connection's stream).</summary>
    public void Attach(HttpResponseMessage response)
    {
        if (response.StatusCode != HttpStatusCode.SwitchingProtocols)
        {
            response.Content = new CapturingContent(response.Content, this);
        }
    }

    private sealed class CapturingContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly ResponseCapture _capture;

        public CapturingContent(HttpContent inner, ResponseCapture capture)
        {
            _inner = inner;
            _capture = capture;
            foreach (var (name, values) in inner.Headers)
            {
                Headers.TryAddWithoutValidation(name, values);
            }
        }

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
            _capture.Body = new BodyCapture(await _inner.ReadAsStreamAsync(cancellationToken), _capture.MaxBytes);

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
}
