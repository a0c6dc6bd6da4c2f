using System.Net;
using System.Text;
using Hoop.Data.Records;
using Hoop.Proxy.Credentials;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Recording;
using Microsoft.AspNetCore.Http;

namespace Hoop.Proxy.Http;

/// <summary>
/// The masking of one HTTP exchange: the request body before it reaches the backend, the response body before it
/// reaches the agent, and the recording of both. A body that must be masked is buffered up to the limit; past it,
/// or when it is compressed, the exchange is refused (fail closed) or, if an admin chose so, passed and noted.
/// </summary>
internal sealed class HttpMasking((Masker Request, Masker Response, Masker Recording) maskers, MaskingOptions options)
{
    public Masker Request { get; } = maskers.Request;
    public Masker Response { get; } = maskers.Response;
    public Masker Recording { get; } = maskers.Recording;

    /// <summary>What was masked on the way (both directions); the recording's own masking adds to it.</summary>
    public MaskingCounts Counts { get; } = new();

    /// <summary>The response body as the agent got it, when it was masked whole.</summary>
    public byte[]? MaskedResponse { get; private set; }

    /// <summary>Why a body went through unmasked (PassThrough over the limit), for the recording.</summary>
    public string? Skipped { get; private set; }

    /// <summary>Masks the agent's body in place; the backend gets the masked bytes with their new length.</summary>
    public async Task MaskRequestAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        if (Request.IsEmpty || http.ContentLength == 0
            || http.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>()?.CanHaveBody == false)
        {
            return;
        }

        // A blocked type is refused before anything else, whatever its size or encoding.
        Request.CheckBlocked(http.ContentType);
        if (Masker.KindOf(http.ContentType) == Masker.BodyKind.Other)
        {
            return;
        }

        if (!string.IsNullOrEmpty(http.Headers.ContentEncoding))
        {
            Unmaskable($"the request body is {http.Headers.ContentEncoding}-encoded");
            return;
        }

        var (buffered, complete) = await BodyBuffer.ReadAsync(http.Body, options.MaxBodyBytes, cancellationToken);
        if (!complete)
        {
            Unmaskable($"the request body is larger than {options.MaxBodyBytes / 1024} KiB");
            http.Body = new BodyBuffer.PrefixedStream(buffered, http.Body);
            return;
        }

        var masked = Request.MaskBody(buffered, http.ContentType, Counts);
        http.Body = new MemoryStream(masked, writable: false);
        http.ContentLength = masked.Length;
        http.Headers.Remove("Transfer-Encoding");
    }

    /// <summary>
    /// Asks the backend for what can be masked when responses have rules: a body with no compression, and whole
    /// (a part of a document cannot be masked by field).
    /// </summary>
    public void PrepareBackendRequest(HttpRequestMessage request)
    {
        if (!Response.IsEmpty)
        {
            request.Headers.AcceptEncoding.Clear();
            request.Headers.Range = null;
            request.Headers.Remove("If-Range");
        }
    }

    /// <summary>Replaces the backend's content with its masked form (or passes it through as the settings say).</summary>
    public async ValueTask MaskResponseAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!Response.IsEmpty && response.RequestMessage?.Method != HttpMethod.Head
            && response.StatusCode is not (HttpStatusCode.SwitchingProtocols or HttpStatusCode.NoContent or HttpStatusCode.NotModified))
        {
            response.Content = await MaskResponseAsync(response.Content, cancellationToken);
        }
    }

    private async Task<HttpContent> MaskResponseAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var contentType = content.Headers.ContentType?.ToString();
        if (contentType is null && content.Headers.NonValidated.Contains("Content-Type"))
        {
            // YARP would pass the raw header on, and the agent's client might read it as a type that needed masking.
            throw new MaskingException("The backend's Content-Type cannot be parsed, so whether to mask the body cannot be decided; it was not passed on.");
        }

        Response.CheckBlocked(contentType);
        var kind = Masker.KindOf(contentType);
        if (kind == Masker.BodyKind.Other)
        {
            return content;
        }

        if (content.Headers.ContentEncoding.Count > 0)
        {
            Unmaskable($"the backend's response is {string.Join(",", content.Headers.ContentEncoding)}-encoded");
            return content;
        }

        var body = await content.ReadAsStreamAsync(cancellationToken);
        if (Masker.IsLines(kind))
        {
            // Event streams (an LLM's tokens) stay streams: each line goes out masked as soon as it is complete.
            Masker.CheckCharset(contentType);
            return ContentHeaders.Onto(content, new StreamContent(new MaskedLinesStream(body, Response, kind, options.MaxBodyBytes, Counts)));
        }

        var (buffered, complete) = await BodyBuffer.ReadAsync(body, options.MaxBodyBytes, cancellationToken, content.Headers.ContentLength);
        HttpContent replacement;
        if (!complete)
        {
            Unmaskable($"the backend's response is larger than {options.MaxBodyBytes / 1024} KiB");
            replacement = new StreamContent(new BodyBuffer.PrefixedStream(buffered, body));
        }
        else
        {
            MaskedResponse = Response.MaskBody(buffered, contentType, Counts);
            replacement = new ByteArrayContent(MaskedResponse);
        }

        ContentHeaders.Onto(content, replacement);
        if (MaskedResponse is not null)
        {
            // Read to its end and replaced: let go of it now, so the backend connection goes back to the pool.
            content.Dispose();
        }

        return replacement;
    }

    /// <summary>The query string as recordings and reviewers see it: masked by the recording's rules.</summary>
    public string? RecordedQuery(QueryString query, MaskingCounts counts) => Recording.IsEmpty ? query.Value : Recording.MaskText(query.Value ?? "", counts);

    /// <summary>The agent's request body as the recording keeps it.</summary>
    public BodyRecord? RecordedRequestBody(BodyCapture? capture, HttpRequest request, SecretScrubber secrets) =>
        Recorded(capture, request.ContentType, request.Headers.ContentEncoding, secrets, count: Request.IsEmpty);

    /// <summary>The backend's response body as the recording keeps it.</summary>
    public BodyRecord? RecordedResponseBody(BodyCapture? capture, int maxBytes, HttpResponse response, SecretScrubber secrets) =>
        MaskedResponse is { } shown && Recording.SameRulesAs(Response)
            ? Shown(shown, capture, maxBytes, secrets)
            : Recorded(capture, response.ContentType, response.Headers.ContentEncoding, secrets, count: Response.IsEmpty);

    /// <summary>
    /// The response as the agent got it, already masked by the same rules the recording has: recorded as it is,
    /// rather than masked a second time from the backend's bytes.
    /// </summary>
    private static BodyRecord Shown(byte[] shown, BodyCapture? capture, int maxBytes, SecretScrubber secrets)
    {
        var truncated = shown.Length > maxBytes;
        var text = secrets.ScrubRecorded(Encoding.UTF8.GetString(shown, 0, Math.Min(shown.Length, maxBytes)), truncated);
        return new BodyRecord(capture?.TotalBytes ?? shown.Length, truncated, truncated ? text[..(text.LastIndexOfAny(Separators) + 1)] : text, null);
    }

    /// <summary>
    /// A body as recorded: cut at the recording limit, scrubbed of the stored secret, masked by the recording's
    /// rules. <paramref name="count"/>: whether those maskings count, i.e. the body was not masked (and counted)
    /// on its way already, so one value is not counted twice.
    /// </summary>
    private BodyRecord? Recorded(BodyCapture? capture, string? contentType, string? contentEncoding, SecretScrubber secrets, bool count)
    {
        if (capture is null || capture.TotalBytes == 0)
        {
            return null;
        }

        var textual = string.IsNullOrEmpty(contentEncoding) && Masker.IsText(contentType);
        string? note = textual ? null : $"{contentType ?? "unknown type"}{(string.IsNullOrEmpty(contentEncoding) ? "" : $", {contentEncoding}")}: not recorded as text";
        string? text = null;
        var kind = Masker.KindOf(contentType);
        if (textual && capture.Truncated && Recording.HasFieldRules && kind is Masker.BodyKind.Json or Masker.BodyKind.Form)
        {
            // A document cut at the recording limit cannot be parsed, so its fields could not be masked.
            note = "cut at the recording limit: not recorded, because field masking needs the whole body";
        }
        else if (textual)
        {
            text = secrets.ScrubRecorded(Encoding.UTF8.GetString(capture.Captured), capture.Truncated);
            var lines = Masker.IsLines(kind);
            if (capture.Truncated)
            {
                // The last value (or line of a stream) may be cut in half, and half a card number is not found by its detector: drop it.
                text = text[..((lines ? text.LastIndexOf('\n') : text.LastIndexOfAny(Separators)) + 1)];
            }

            if (!Recording.IsEmpty)
            {
                try
                {
                    // A cut document is masked as text; a cut stream of lines still line by line (its lines are whole).
                    var maskAs = capture.Truncated && !lines ? "text/plain" : contentType;
                    text = Encoding.UTF8.GetString(Recording.MaskBody(Encoding.UTF8.GetBytes(text), maskAs, count ? Counts : new MaskingCounts()));
                }
                catch (MaskingException e)
                {
                    // The exchange is still recorded; only its body is not.
                    (text, note) = (null, $"not recorded: {e.Message}");
                }
            }
        }

        return new BodyRecord(capture.TotalBytes, capture.Truncated, text, note);
    }

    private static readonly char[] Separators = [' ', '\n', '\r', '\t', ',', ';', '&', '"', '\'', '<', '>', '{', '}', '[', ']'];

    private void Unmaskable(string reason)
    {
        if (options.OverLimit == MaskingOverLimit.Block)
        {
            throw new MaskingException($"Masking is required here, and {reason}: it cannot be masked, so it was not passed on.");
        }

        Skipped = $"{reason}: passed through unmasked (Hoop:Masking:OverLimit is PassThrough)";
    }
}
