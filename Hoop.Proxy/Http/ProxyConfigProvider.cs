using Hoop.Proxy.Model;
using System.Net;
using Hoop.Data.Entities;
using Hoop.Proxy.Policy;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Proxy.Http;

/// <summary>
/// YARP's routes and clusters, compiled from the current policy snapshot. Each HTTP connection is reachable
/// as https://&lt;connection&gt;.&lt;host name&gt;/... and as https://&lt;host name&gt;/&lt;connection&gt;/... (prefix stripped).
/// </summary>
internal sealed class ProxyConfigProvider(PolicyStore policy, ProxyOptions options) : IProxyConfigProvider
{
    public IProxyConfig GetConfig()
    {
        // Token first: a swap after this line fires it, and YARP asks again.
        var changed = policy.ChangeToken;
        return Build(policy.Current, changed);
    }

    private Config Build(PolicySnapshot snapshot, IChangeToken changed)
    {
        var routes = new List<RouteConfig>();
        var clusters = new List<ClusterConfig>();
        foreach (var connection in snapshot.Connections.Values.Where(c => c.Kind == ConnectionKind.Http))
        {
            var metadata = new Dictionary<string, string> { [Metadata.Connection] = connection.Name };
            routes.Add(new RouteConfig
            {
                RouteId = $"{connection.Name}:host",
                ClusterId = connection.Name,
                Order = -1,
                Match = new RouteMatch { Hosts = snapshot.Certificates.HostNames.Select(h => $"{connection.Name}.{h}").ToList() },
                Metadata = metadata,
                Transforms = [NoDefaultForwardedHeaders],
            });
            routes.Add(new RouteConfig
            {
                RouteId = $"{connection.Name}:path",
                ClusterId = connection.Name,
                Order = 0,
                Match = new RouteMatch { Path = $"/{connection.Name}/{{**rest}}" },
                Metadata = new Dictionary<string, string>(metadata) { [Metadata.PathPrefix] = "/" + connection.Name },
                Transforms = [NoDefaultForwardedHeaders, new Dictionary<string, string> { ["PathRemovePrefix"] = "/" + connection.Name }],
            });
            clusters.Add(new ClusterConfig
            {
                ClusterId = connection.Name,
                Destinations = new Dictionary<string, DestinationConfig> { ["backend"] = new() { Address = connection.Address.ToString() } },
                HttpRequest = new ForwarderRequestConfig
                {
                    ActivityTimeout = options.BackendTimeout,
                    Version = HttpVersion.Version20,
                    VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
                },
                HttpClient = new HttpClientConfig { EnableMultipleHttp2Connections = true },
                Metadata = new Dictionary<string, string> { [Metadata.Version] = connection.Version },
            });
        }

        return new Config(routes, clusters, changed);
    }

    // Hoop sets X-Forwarded-* itself, after removing whatever the agent sent (CredentialTransforms).
    private static readonly Dictionary<string, string> NoDefaultForwardedHeaders = new() { ["X-Forwarded"] = "Off" };

    internal static class Metadata
    {
        public const string Connection = "hoop.connection";
        public const string Version = "hoop.version";

        /// <summary>The prefix a path route strips, for <see cref="RawPathTransforms"/>.</summary>
        public const string PathPrefix = "hoop.path-prefix";
    }

    private sealed class Config(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters, IChangeToken changeToken) : IProxyConfig
    {
        public IReadOnlyList<RouteConfig> Routes => routes;
        public IReadOnlyList<ClusterConfig> Clusters => clusters;
        public IChangeToken ChangeToken => changeToken;
    }
}

/// <summary>Settings of the HTTP data path, bound from Hoop:Proxy. Host names come from the policy snapshot's certificate settings.</summary>
public sealed class ProxyOptions
{
    /// <summary>How long the backend may stay silent (no bytes either way) before the request fails with 504.</summary>
    public int BackendTimeoutSeconds { get; init; } = 100;

    public TimeSpan BackendTimeout => TimeSpan.FromSeconds(BackendTimeoutSeconds);
}
