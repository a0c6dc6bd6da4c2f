using System.IO.Compression;
using System.Net;
using Hoop.Proxy.Credentials;

namespace Hoop.Proxy.Http;

/// <summary>
/// The first thing a backend's answer meets: its body (and, after an upgrade, its WebSocket messages) loses every
/// form of the stored secret before anything else sees it, so the agent, masking and the recording all get the
/// same scrubbed bytes. Headers and trailers are scrubbed by <see cref="CredentialTransforms"/>.
/// A body with a length of at most <see cref="BufferedBytes"/> is read whole and keeps an exact Content-Length;
/// a longer one, or one of unknown length, streams on without a length (chunked), since the length of what
/// reaches the agent is known only at its end.
/// </summary>
internal sealed class SecretReflectionHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    internal const int BufferedBytes = 64 * 1024;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        if (!request.Options.TryGetValue(ProxyCall.Key, out var call) || call.Connection.Secrets.IsEmpty
            || request.Method == HttpMethod.Head || response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotModified)
        {
            return response;
        }

        var secrets = call.Connection.Secrets;
        // A WebSocket reaches the backend as an HTTP/1.1 upgrade (101) or, over HTTP/2, an extended CONNECT (200).
        if (response.StatusCode == HttpStatusCode.SwitchingProtocols || (request.Method == HttpMethod.Connect && response.IsSuccessStatusCode))
        {
            var websocket = request.Headers.Protocol == "websocket" || request.Headers.Upgrade.Any(u => u.Name.Equals("websocket", StringComparison.OrdinalIgnoreCase));
            response.Content = new UpgradedContent(response.Content, secrets, websocket, () => call.Reflection.Found(websocket ? "websocket message" : "upgraded stream"));
            return response;
        }

        try
        {
            if (response.Content.Headers.ContentEncoding.Count > 0)
            {
                // Hoop asked for no encoding; a backend that compresses anyway is decoded, so it can be searched.
                var decoded = Decode(await response.Content.ReadAsStreamAsync(cancellationToken), response.Content.Headers.ContentEncoding);
                var replacement = ContentHeaders.Onto(response.Content, new StreamContent(new ScrubbingStream(decoded, secrets, () => call.Reflection.Found("response body"))));
                replacement.Headers.ContentEncoding.Clear();
                response.Content = replacement;
                return response;
            }

            if (response.Content.Headers.ContentLength is <= BufferedBytes)
            {
                // Read into the content's own buffer: when nothing is found, it is served from there as it is.
                var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
                if (secrets.Scrub(body, out _) is { } scrubbed)
                {
                    call.Reflection.Found("response body");
                    response.Content = ContentHeaders.Onto(response.Content, new ByteArrayContent(scrubbed));
                }

                return response;
            }

            var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            response.Content = ContentHeaders.Onto(response.Content, new StreamContent(new ScrubbingStream(stream, secrets, () => call.Reflection.Found("response body"))));
            return response;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    private static Stream Decode(Stream body, ICollection<string> encodings)
    {
        // Encodings are listed in the order they were applied: undo them last first.
        foreach (var encoding in encodings.Reverse())
        {
            body = encoding.Trim().ToLowerInvariant() switch
            {
                "gzip" or "x-gzip" => new GZipStream(body, CompressionMode.Decompress),
                "deflate" => new ZLibStream(body, CompressionMode.Decompress),
                "br" => new BrotliStream(body, CompressionMode.Decompress),
                "identity" => body,
                var other => throw new HttpRequestException(
                    $"The backend answered with Content-Encoding '{other}', which Hoop cannot search for the stored credential; the answer was not passed on."),
            };
        }

        return body;
    }

    /// <summary>
    /// The upgraded connection's stream: a WebSocket read message by message; any other protocol (rare: SPDY,
    /// custom TCP tunnels) as plain bytes, whose framing a replacement may break, which beats passing the secret.
    /// </summary>
    private sealed class UpgradedContent(HttpContent inner, SecretScrubber secrets, bool websocket, Action found) : HttpContent
    {
        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
        {
            var stream = await inner.ReadAsStreamAsync(cancellationToken);
            return websocket ? new WebSocketScrubbingStream(stream, secrets, found) : new ScrubbingStream(stream, secrets, found);
        }

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => throw new NotSupportedException();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
