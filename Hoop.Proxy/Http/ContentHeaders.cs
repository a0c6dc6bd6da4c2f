namespace Hoop.Proxy.Http;

internal static class ContentHeaders
{
    /// <summary>
    /// The backend's content headers on a replacement body, all but the length: the replacement has its own
    /// (a buffer), or none (a stream, sent chunked).
    /// </summary>
    public static HttpContent Onto(HttpContent original, HttpContent replacement)
    {
        foreach (var (name, values) in original.Headers)
        {
            if (!name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                replacement.Headers.TryAddWithoutValidation(name, values);
            }
        }

        return replacement;
    }
}
