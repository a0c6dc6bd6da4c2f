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

    /// <summary>Why a body went through unmasked (PassThrough over the limit), for the recording.</summary>
    public string? Skipped { get; private set; }

    /// <summary>Masks the agent's body in place; the backend gets the masked bytes with their new length.</summary>
    public async Task MaskRequestAsync(HttpRequest http, CancellationToken cancellationToken)
    {
        if (request.IsEmpty || !Applies(request, http.ContentType) || http.ContentLength == 0)
        {
            return;
        }

        if (!string.IsNullOrEmpty(http.Headers.ContentEncoding))
        {
            Unmaskable($"the request body is {http.Headers.ContentEncoding}-encoded");
            return;
        }

        var (buffered, complete) = await ReadAsync(http.Body, cancellationToken);
        if (!complete)
        {
            Unmaskable($"the request body is larger than {options.MaxBodyBytes / 1024} KiB");
            http.Body = new PrefixedStream(buffered, http.Body);
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
        var (buffered, complete) = await ReadAsync(body, cancellationToken);
        HttpContent replacement;
        if (!complete)
        {
            Unmaskable($"the backend's response is larger than {options.MaxBodyBytes / 1024} KiB");
            replacement = new StreamContent(new PrefixedStream(buffered, body));
        }
        else
        {
            replacement = new ByteArrayContent(response.MaskBody(buffered, contentType, Counts));
        }

        foreach (var (name, values) in content.Headers)
        {
            if (!name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                replacement.Headers.TryAddWithoutValidation(name, values);
            }
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

    /// <summary>Up to the limit; complete is false when the body goes on past it.</summary>
    private async Task<(byte[] Bytes, bool Complete)> ReadAsync(Stream body, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (buffer.Length <= options.MaxBodyBytes)
        {
            var read = await body.ReadAsync(chunk, cancellationToken);
            if (read == 0)
            {
                return (buffer.ToArray(), true);
            }

            buffer.Write(chunk, 0, read);
        }

        return (buffer.ToArray(), false);
    }

    /// <summary>What was already read, then the rest of the stream.</summary>
    private sealed class PrefixedStream(byte[] prefix, Stream rest) : Stream
    {
        private int _offset;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_offset < prefix.Length)
            {
                var count = Math.Min(buffer.Length, prefix.Length - _offset);
                prefix.AsMemory(_offset, count).CopyTo(buffer);
                _offset += count;
                return count;
            }

            return await rest.ReadAsync(buffer, cancellationToken);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                rest.Dispose();
            }

            base.Dispose(disposing);
        }
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

        // Compressed bodies cannot be masked: ask for them plain.
        request.Headers.AcceptEncoding.Clear();
        var response = await base.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.SwitchingProtocols)
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
