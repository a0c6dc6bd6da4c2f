using System.Text;
using Hoop.Data.Entities;
using Hoop.Proxy.Model;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Proxy.Http;

/// <summary>
/// Which connection a request on the proxy port is for, and the path its backend gets. An HTTP connection is
/// reachable as https://&lt;connection&gt;.&lt;host name&gt;/... (the host route, tried first) and as
/// https://&lt;host name&gt;/&lt;connection&gt;/... (the path route, whose prefix is taken off). Names match in any case.
/// </summary>
internal readonly record struct ProxyRoute(string Name, string? Prefix)
{
    /// <summary>The route the request names, or null when it names no HTTP connection of <paramref name="snapshot"/>.</summary>
    public static ProxyRoute? Find(HttpRequest request, PolicySnapshot snapshot, out ConnectionPolicy? connection)
    {
        var host = request.Host.Host;
        foreach (var name in snapshot.Certificates.HostNames)
        {
            if (host.Length > name.Length + 1 && host[^(name.Length + 1)] == '.' && host.EndsWith(name, StringComparison.OrdinalIgnoreCase)
                && IsHttp(snapshot, host[..^(name.Length + 1)], out connection))
            {
                return new ProxyRoute(connection.Name, null);
            }
        }

        var path = request.Path.Value ?? "";
        var end = path.IndexOf('/', 1);
        var first = path.Length > 1 ? end < 0 ? path[1..] : path[1..end] : "";
        if (IsHttp(snapshot, first, out connection))
        {
            return new ProxyRoute(connection.Name, path[..(first.Length + 1)]);
        }

        connection = null;
        return null;
    }

    private static bool IsHttp(PolicySnapshot snapshot, string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ConnectionPolicy? connection) =>
        snapshot.Connections.TryGetValue(name, out connection) && connection.Kind == ConnectionKind.Http;

    /// <summary>The decoded path as the backend sees it: without the /&lt;connection&gt; prefix of a path route.</summary>
    public string BackendPath(HttpRequest request)
    {
        var path = request.Path.Value ?? "";
        return (Prefix is null ? path : path[Prefix.Length..]) is { Length: > 0 } rest ? rest : "/";
    }

    /// <summary>
    /// The backend's URL for this request. The path goes exactly as the agent wrote it (after the prefix) when that
    /// decodes to the path Hoop routed and checked, since building it from the decoded path would encode %2F again
    /// (a%2Fb became a%252Fb, and APIs that take encoded slashes in ids broke); otherwise from the decoded path.
    /// </summary>
    public Uri BackendUri(HttpContext context, string destinationPrefix)
    {
        var query = context.Request.QueryString;
        if (RawRest(context, Prefix) is { } rest)
        {
            // No canonicalization: the path was checked to decode to what Hoop routed, so it goes as it is.
            return new Uri(destinationPrefix.TrimEnd('/') + rest + query.Value,
                new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
        }

        // A PathString made from the decoded value, never converted from a string: that decodes it once more (%252e
        // would become a dot segment the backend's URL then drops), past what the guardrails checked.
        var path = context.Request.Path;
        return RequestUtilities.MakeDestinationAddress(destinationPrefix, Prefix is null ? path : new PathString(path.Value![Prefix.Length..]), query);
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
