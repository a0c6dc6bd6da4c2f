using System.Net;
using Hoop.Proxy.Masking;
using Microsoft.AspNetCore.Http;

namespace Hoop.Proxy.Http;

/// <summary>
/// The masking of one HTTP exchange: the request body before it reaches the backend, the response body before it
/// reaches the agent, and the recording of both. A body that must be masked is buffered up to the limit; past it,
/// or when it is compressed, the exchange is refused (fail closed) or, if an admin chose so, passed and noted.
/// </summary>
public sealed class HttpMasking(Masker request, Masker response, Masker recording, MaskingOptions options)
{
    public static readonly HttpRequestOptionsKey<HttpMasking> Key = new("hoop.masking");

    public Masker Request => request;
    public Masker Response => response;
    public Masker Recording => recording;

    /// <summary>What was masked on the way (both directions); the recording's own masking adds to it.</summary>
    public MaskingCounts Counts { get; } = new();

    /// <summary>The response body as the agent got it, when it was masked whole.</summary>
    public byte[]? MaskedResponse { get; private set; }

    /// <summary>Why a body went through unmasked (PassThrough over the limit), for the recording.</summary>
    public string? Skipped { get; private set; }

    /// <summary>Masks the agent's body in place; the backend gets the masked bytes with their new length.</summary>
    public async Task MaskRequestAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        if (request.IsEmpty || http.ContentLength == 0
            || http.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>()?.CanHaveBody == false)
        {
            return;
        }

        // A blocked type is refused before anything else, whatever its size or encoding.
        request.CheckBlocked(http.ContentType);
        if (!Applies(request, http.ContentType))
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

        var masked = request.MaskBody(buffered, http.ContentType, Counts);
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

        response.CheckBlocked(contentType);
        if (!Applies(response, contentType))
        {
            return content;
        }

        if (content.Headers.ContentEncoding.Count > 0)
        {
            Unmaskable($"the backend's response is {string.Join(",", content.Headers.ContentEncoding)}-encoded");
            return content;
        }

        var body = await content.ReadAsStreamAsync(cancellationToken);
        var (buffered, complete) = await BodyBuffer.ReadAsync(body, options.MaxBodyBytes, cancellationToken);
        HttpContent replacement;
        if (!complete)
        {
            Unmaskable($"the backend's response is larger than {options.MaxBodyBytes / 1024} KiB");
            replacement = new StreamContent(new BodyBuffer.PrefixedStream(buffered, body));
        }
        else
        {
            MaskedResponse = response.MaskBody(buffered, contentType, Counts);
            replacement = new ByteArrayContent(MaskedResponse);
        }

        foreach (var (name, values) in content.Headers)
        {
            if (!name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                replacement.Headers.TryAddWithoutValidation(name, values);
            }
        }

        if (MaskedResponse is not null)
        {
            // Read to its end and replaced: let go of it now, so the backend connection goes back to the pool.
            content.Dispose();
        }

        return replacement;
    }

    /// <summary>Bodies of a maskable type, and any body a content-type rule is about.</summary>
    private static bool Applies(Masker masker, string? contentType) =>
        Masker.KindOf(contentType) != Masker.BodyKind.Other || masker.Blocks(contentType);

    private void Unmaskable(string reason)
    {
        if (options.OverLimit == MaskingOverLimit.Block)
        {
            throw new MaskingException($"Masking is required here, and {reason}: it cannot be masked, so it was not passed on.");
        }

        Skipped = $"{reason}: passed through unmasked (Hoop:Masking:OverLimit is PassThrough)";
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
