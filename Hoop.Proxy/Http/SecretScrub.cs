using System.IO.Compression;
using System.Net;
using Microsoft.AspNetCore.Http;

namespace Hoop.Proxy.Http;

/// <summary>
/// The first thing a backend's answer meets: its body (and, after an upgrade, its WebSocket messages), headers and
/// trailers lose every form of the stored secret before anything else sees them, so the agent, masking and the
/// recording all get the same scrubbed bytes. Each place it was found is noted on the exchange.
/// A body with a length of at most <see cref="BufferedBytes"/> is read whole and keeps an exact Content-Length;
/// a longer one, or one of unknown length, streams on without a length (chunked), since the length of what
/// reaches the agent is known only at its end.
/// </summary>
internal static class SecretScrub
{
    internal const int BufferedBytes = 64 * 1024;

    /// <summary>Replaces the response's content with one that has no form of the stored secret in it.</summary>
    public static async ValueTask BodyAsync(HttpExchange exchange, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var request = response.RequestMessage!;
        var secrets = exchange.Connection.Secrets;
        if (secrets.IsEmpty || request.Method == HttpMethod.Head || response.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotModified)
        {
            return;
        }

        var reflection = exchange.Reflection;
        // A WebSocket reaches the backend as an HTTP/1.1 upgrade (101) or, over HTTP/2, an extended CONNECT (200).
        if (response.StatusCode == HttpStatusCode.SwitchingProtocols || (request.Method == HttpMethod.Connect && response.IsSuccessStatusCode))
        {
            var websocket = request.Headers.Protocol == "websocket" || request.Headers.Upgrade.Any(u => u.Name.Equals("websocket", StringComparison.OrdinalIgnoreCase));
            // A WebSocket is read message by message; any other protocol (rare: SPDY, custom TCP tunnels) as plain
            // bytes, whose framing a replacement may break, which beats passing the secret.
            Action found = () => reflection.Found(websocket ? "websocket message" : "upgraded stream");
            response.Content = new WrappedContent(response.Content,
                stream => websocket ? new WebSocketScrubbingStream(stream, secrets, found) : new ScrubbingStream(stream, secrets, found), keepsLength: false);
            return;
        }

        if (response.Content.Headers.ContentEncoding.Count > 0)
        {
            // Hoop asked for no encoding; a backend that compresses anyway is decoded, so it can be searched.
            var decoded = Decode(await response.Content.ReadAsStreamAsync(cancellationToken), response.Content.Headers.ContentEncoding);
            var replacement = ContentHeaders.Onto(response.Content, new StreamContent(new ScrubbingStream(decoded, secrets, () => reflection.Found("response body"))));
            replacement.Headers.ContentEncoding.Clear();
            response.Content = replacement;
            return;
        }

        if (response.Content.Headers.ContentLength is <= BufferedBytes)
        {
            // Read into the content's own buffer: when nothing is found, it is served from there as it is.
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (secrets.Scrub(body, out _) is { } scrubbed)
            {
                reflection.Found("response body");
                response.Content = ContentHeaders.Onto(response.Content, new ByteArrayContent(scrubbed));
            }

            return;
        }

        var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        response.Content = ContentHeaders.Onto(response.Content, new StreamContent(new ScrubbingStream(stream, secrets, () => reflection.Found("response body"))));
    }

    /// <summary>Scrubs the stored secret from the headers (or trailers) the agent is about to get.</summary>
    public static void Headers(HttpExchange exchange, IHeaderDictionary headers, string where)
    {
        var secrets = exchange.Connection.Secrets;
        if (secrets.IsEmpty)
        {
            return;
        }

        List<string>? found = null;
        foreach (var (name, values) in headers)
        {
            if (values.Any(v => v is not null && secrets.Contains(v)))
            {
                (found ??= []).Add(name);
            }
        }

        foreach (var name in found ?? [])
        {
            headers[name] = headers[name].Select(v => v is null ? null : secrets.Scrub(v, out _)).ToArray();
            exchange.Reflection.Found($"{where} {name}");
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
                var other => throw new WithheldResponseException(
                    $"The backend answered with Content-Encoding '{other}', which Hoop cannot search for the stored credential; the answer was not passed on."),
            };
        }

        return body;
    }
}
