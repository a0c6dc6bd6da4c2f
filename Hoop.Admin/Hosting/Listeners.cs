using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Hoop.Admin.Hosting;

/// <summary>Which Kestrel endpoint serves what. A request is served only by the face of the port it came in on.</summary>
public enum ListenerKind
{
    Console,
    Proxy,

    /// <summary>The Postgres wire protocol (TLS after SSLRequest, or direct): a socket of its own, not a Kestrel endpoint.</summary>
    Postgres,

    /// <summary>Plain HTTP, bound only while ACME uses http-01: serves /.well-known/acme-challenge/ alone.</summary>
    AcmeHttp,
}

/// <summary>Remembers each listener's endpoint, so the actual port is known after binding (port 0 in tests).</summary>
public sealed class Listeners(Hoop.Proxy.Postgres.PostgresListener postgres)
{
    private readonly Dictionary<ListenerKind, ListenOptions> _endpoints = [];

    internal void Add(ListenerKind kind, ListenOptions options) => _endpoints[kind] = options;

    /// <summary>The bound port; valid once the server has started.</summary>
    public int PortOf(ListenerKind kind) => kind == ListenerKind.Postgres ? postgres.Port : _endpoints[kind].IPEndPoint!.Port;

    /// <summary><paramref name="configured"/> with the console's bound port, once it is bound.</summary>
    public Uri ConsoleUrl(Uri configured) =>
        _endpoints.TryGetValue(ListenerKind.Console, out var console) && console.IPEndPoint is { Port: > 0 } bound
            ? new UriBuilder(configured) { Port = bound.Port }.Uri
            : configured;

    public bool IsOn(HttpContext context, ListenerKind kind) =>
        _endpoints.TryGetValue(kind, out var options) && context.Connection.LocalPort == options.IPEndPoint!.Port;
}
