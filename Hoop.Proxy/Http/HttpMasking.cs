using System.Net;
using System.Text;
using Hoop.Proxy.Masking;
using Microsoft.AspNetCore.Http;

namespace Hoop.Proxy.Http;

/// <summary>
/// The masking of one HTTP exchange: the request body before it reaches the backend, the response body before it
/// reaches the agent, and the recording of both. A body that must be masked is buffered up to the limit; past it,
/// or when it is compressed, the exchange is refused (fail closed) or, if an admin chose so, passed and noted.
/// </summary>
internal sealed class HttpMasking((Masker Request, Masker Response, Masker Recording) maskers, MaskingOptions options)
{

    public static readonly HttpRequestOptionsKey<HttpMasking> Key = new("hoop.masking");

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

    /// <summary>The backend's content, masked (or passed through as the settings say).</summary>
    public async Task<HttpContent> MaskResponseAsync(HttpContent content, CancellationToken cancellationToken)
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

    private void Unmaskable(string reason)
    {
        if (options.OverLimit == MaskingOverLimit.Block)
        {
            throw new MaskingException($"Masking is required here, and {reason}: it cannot be masked, so it was not passed on.");
        }

        Skipped = $"{reason}: passed through unmasked (Hoop:Masking:OverLimit is PassThrough)";
    }
}

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

/// <summary>Masks each backend response whose request carries an <see cref="HttpMasking"/> with response rules.</summary>
internal sealed class MaskingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!request.Options.TryGetValue(HttpMasking.Key, out var masking) || masking.Response.IsEmpty)
        {
            return await base.SendAsync(request, cancellationToken);
        }

        // Compressed bodies cannot be masked: ask for them plain. A part of a document cannot be masked by field: ask for all of it.
        request.Headers.AcceptEncoding.Clear();
        request.Headers.Range = null;
        request.Headers.Remove("If-Range");
        var response = await base.SendAsync(request, cancellationToken);
        if (request.Method != HttpMethod.Head
            && response.StatusCode is not (HttpStatusCode.SwitchingProtocols or HttpStatusCode.NoContent or HttpStatusCode.NotModified))
        {
            try
            {
                response.Content = await masking.MaskResponseAsync(response.Content, cancellationToken);
            }
            catch
            {
                response.Dispose();
                throw;
            }
        }

        return response;
    }
}
