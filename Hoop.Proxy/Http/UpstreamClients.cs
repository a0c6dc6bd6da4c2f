using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Upstream;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Proxy.Http;

/// <summary>
/// The HTTP clients Hoop uses towards backends, one per version of a connection: TLS verified the way the connection
/// says (system roots, its CA bundle, or a pinned certificate), and the client certificate for upstream mTLS. A client
/// is made only when its connection changes, so connection pools survive unrelated edits. A request that started
/// before an edit keeps its version's client; clients of versions the policy no longer has are dropped (not disposed:
/// requests in flight may hold them, as YARP does with the clients it replaces).
/// </summary>
internal sealed class UpstreamClients(PolicyStore policy)
{
    private readonly ConcurrentDictionary<string, UpstreamTls> _tls = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<(string Name, string Version), HttpMessageInvoker> _clients = new();
    private readonly Lock _creating = new();

    /// <summary>What the latest handshake with a connection's backend negotiated, or why it failed.</summary>
    public UpstreamTls TlsOf(string connection) => _tls.GetOrAdd(connection, _ => new UpstreamTls());

    /// <summary>The client for this version of the connection.</summary>
    public HttpMessageInvoker For(ConnectionPolicy connection)
    {
        var key = (connection.Name.ToUpperInvariant(), connection.Version);
        if (_clients.TryGetValue(key, out var known))
        {
            return known;
        }

        lock (_creating)
        {
            if (_clients.TryGetValue(key, out known))
            {
                return known;
            }

            var current = policy.Current.Connections;
            foreach (var stale in _clients.Keys.Where(k => !current.TryGetValue(k.Name, out var c) || c.Version != k.Version))
            {
                _clients.TryRemove(stale, out _);
            }

            return _clients[key] = new HttpMessageInvoker(Handler(connection, TlsOf(connection.Name)), disposeHandler: true);
        }
    }

    /// <summary>YARP's settings for a forwarding client (no proxy, redirects, decompression or cookies), and the connection's TLS.</summary>
    private static SocketsHttpHandler Handler(ConnectionPolicy connection, UpstreamTls state)
    {
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = new ReverseProxyPropagator(DistributedContextPropagator.Current),
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        handler.SslOptions.EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
        {
            var failure = BackendCertificate.Verify(connection, certificate, chain, errors);
            state.LastFailure = failure;
            return failure is null;
        };
        // Called once the connection's TLS is up: the place to read what was negotiated.
        handler.PlaintextStreamFilter = (filter, _) =>
        {
            if (filter.PlaintextStream is SslStream tls)
            {
                state.Negotiated = $"{tls.SslProtocol} {tls.NegotiatedCipherSuite}";
            }

            return ValueTask.FromResult(filter.PlaintextStream);
        };
        if (connection.ClientCertificate is { } clientCertificate)
        {
            handler.SslOptions.ClientCertificates = [clientCertificate];
            handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => clientCertificate;
        }

        return handler;
    }
}
