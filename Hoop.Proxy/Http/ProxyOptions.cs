namespace Hoop.Proxy.Http;

/// <summary>Settings of the HTTP data path, bound from Hoop:Proxy. Host names come from the policy snapshot's certificate settings.</summary>
public sealed class ProxyOptions
{
    /// <summary>How long the backend may stay silent (no bytes either way) before the request fails with 504.</summary>
    public int BackendTimeoutSeconds { get; init; } = 100;

    public TimeSpan BackendTimeout => TimeSpan.FromSeconds(BackendTimeoutSeconds);
}
