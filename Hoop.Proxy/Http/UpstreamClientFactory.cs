using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Authentication;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Upstream;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Proxy.Http;

/// <summary>
/// The HTTP clients Hoop uses towards backends, one per connection: TLS verified the way the connection says
/// (system roots, its CA bundle, or a pinned certificate), and the client certificate for upstream mTLS.
/// A client is rebuilt only when its connection changes, so connection pools survive unrelated edits.
/// </summary>
internal sealed class UpstreamClientFactory(PolicyStore policy) : ForwarderHttpClientFactory
{
    private readonly ConcurrentDictionary<string, UpstreamTls> _tls = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>What the latest handshake with a connection's backend negotiated, or why it failed.</summary>
    public UpstreamTls TlsOf(string connection) => _tls.GetOrAdd(connection, _ => new UpstreamTls());

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.ConnectTimeout = TimeSpan.FromSeconds(10);
        if (!policy.Current.Connections.TryGetValue(context.ClusterId, out var connection))
        {
            return;
        }

        var state = TlsOf(connection.Name);
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
    }

    // Outermost first: response masking, the recording's copy, then the secret scrub, which sees the backend's
    // bytes before anything else, so the agent, masking and the recording all get what was scrubbed.
    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        new MaskingHandler(new CapturingHandler(new SecretReflectionHandler(base.WrapHandler(context, handler))));

    protected override bool CanReuseOldClient(ForwarderHttpClientContext context) =>
        base.CanReuseOldClient(context)
        && context.OldMetadata?.GetValueOrDefault(ProxyConfigProvider.Metadata.Version)
            == context.NewMetadata?.GetValueOrDefault(ProxyConfigProvider.Metadata.Version);
}

/// <summary>The latest handshake with one backend: protocol and cipher, or the reason it was refused.</summary>
internal sealed class UpstreamTls
{
    private volatile string? _negotiated;
    private volatile string? _lastFailure;

    public string? Negotiated { get => _negotiated; internal set => _negotiated = value; }

    public string? LastFailure { get => _lastFailure; internal set => _lastFailure = value; }
}
