using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Hoop.Proxy.Http;

/// <summary>
/// Sends the backend the path exactly as the agent wrote it (after the connection's prefix). YARP builds the
/// destination from the decoded path, where Kestrel leaves %2F encoded, and encodes it again: a%2Fb became
/// a%252Fb, and APIs that take encoded slashes in ids (GitLab projects, object keys) broke. The raw target is
/// used only when it decodes to exactly the path Hoop routed and checked (guardrails match that decoded,
/// canonical form), so the backend never gets a path that means something else; otherwise YARP's own applies.
/// </summary>
internal sealed class RawPathTransforms : ITransformProvider
{
    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        var prefix = context.Route.Metadata?.GetValueOrDefault(ProxyConfigProvider.Metadata.PathPrefix);
        context.AddRequestTransform(transform =>
        {
            if (RawRest(transform.HttpContext, prefix) is { } rest)
            {
                var query = transform.Query.QueryString.Value ?? "";
                // No canonicalization: the path was checked above to decode to what Hoop routed, so it goes as it is.
                transform.ProxyRequest.RequestUri = new Uri(transform.DestinationPrefix.TrimEnd('/') + rest + query,
                    new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
            }

            return ValueTask.CompletedTask;
        });
    }

    /// <summary>
    /// The raw path after <paramref name="prefix"/> ("/connection" on path routes, null on host routes), or null
    /// when it cannot be used as it is: an absolute-form target, a first segment that is not the connection, dot
    /// segments Kestrel removed, or anything else whose decoding differs from the routed path.
    /// </summary>
    internal static string? RawRest(HttpContext context, string? prefix)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        var routed = context.Request.Path.Value ?? "";
        if (string.IsNullOrEmpty(raw) || raw[0] != '/')
        {
            return null;
        }

        var rawPath = raw.Split('?', 2)[0];
        if (prefix is not null)
        {
            var end = rawPath.IndexOf('/', 1);
            var first = end < 0 ? rawPath : rawPath[..end];
            // Routes match the connection's name in any case.
            if (!routed.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) || DecodeExceptSlash(first) != routed[..prefix.Length])
            {
                return null;
            }

            rawPath = end < 0 ? "" : rawPath[end..];
            routed = routed[prefix.Length..];
        }

        return rawPath.Length > 0 && DecodeExceptSlash(rawPath) == routed ? rawPath : null;
    }

    /// <summary>Percent-decoding as Kestrel does it for HttpRequest.Path: UTF-8, every escape but %2F; null when it is not valid UTF-8.</summary>
    internal static string? DecodeExceptSlash(string path)
    {
        if (!path.Contains('%', StringComparison.Ordinal))
        {
            return path;
        }

        var bytes = new List<byte>(path.Length);
        for (var i = 0; i < path.Length; i++)
        {
            if (path[i] == '%' && i + 2 < path.Length && Uri.IsHexDigit(path[i + 1]) && Uri.IsHexDigit(path[i + 2]))
            {
                var value = Convert.ToByte(path.Substring(i + 1, 2), 16);
                if (value != '/')
                {
                    bytes.Add(value);
                    i += 2;
                    continue;
                }
            }

            bytes.AddRange(Encoding.UTF8.GetBytes(path[i].ToString()));
        }

        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes.ToArray());
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
