using Hoop.Proxy.Http;
using Microsoft.AspNetCore.Routing.Matching;

namespace Hoop.Admin.Hosting;

/// <summary>
/// Each port serves only its own face: endpoints marked <see cref="ProxyEndpointMetadata"/> match only on the
/// proxy port, every other endpoint only on the console port.
/// </summary>
internal sealed class ListenerMatcherPolicy(Listeners listeners) : MatcherPolicy, IEndpointSelectorPolicy
{
    public override int Order => 0;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) => true;

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        var onProxyPort = listeners.IsOn(httpContext, ListenerKind.Proxy);
        for (var i = 0; i < candidates.Count; i++)
        {
            var proxyEndpoint = candidates[i].Endpoint.Metadata.GetMetadata<ProxyEndpointMetadata>() is not null;
            if (proxyEndpoint != onProxyPort)
            {
                candidates.SetValidity(i, false);
            }
        }

        return Task.CompletedTask;
    }
}
