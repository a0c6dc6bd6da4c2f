using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Entities;
using Hoop.Proxy.Policy;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Proxy.Http;

/// <summary>
/// The HTTP clients Hoop uses towards backends, one per connection: TLS verified the way the connection says
/// (system roots, its CA bundle, or a pinned certificate), and the client certificate for upstream mTLS.
/// A client is rebuilt only when its connection changes, so connection pools survive unrelated edits.
/// </summary>
public sealed class UpstreamClientFactory(PolicyStore policy) : ForwarderHttpClientFactory
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
            var failure = Verify(connection, certificate, chain, errors);
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

    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        new CapturingHandler(base.WrapHandler(context, handler));

    protected override bool CanReuseOldClient(ForwarderHttpClientContext context) =>
        base.CanReuseOldClient(context)
        && context.OldMetadata?.GetValueOrDefault(ProxyConfigProvider.Metadata.Version)
            == context.NewMetadata?.GetValueOrDefault(ProxyConfigProvider.Metadata.Version);

    /// <summary>Null when the backend's certificate is acceptable, else the reason in plain words.</summary>
    internal static string? Verify(ConnectionPolicy connection, X509Certificate? presented, X509Chain? chain, SslPolicyErrors errors)
    {
        if (connection.TlsVerification == TlsVerification.Unverified)
        {
            return null;
        }

        if (presented is null)
        {
            return "the backend presented no certificate";
        }

        using var certificate = new X509Certificate2(presented);
        var host = connection.Address.Host;
        switch (connection.TlsVerification)
        {
            case TlsVerification.Pinned:
                var sha256 = certificate.GetCertHashString(HashAlgorithmName.SHA256);
                return sha256 == connection.PinnedSha256 ? null : $"the backend's certificate (SHA-256 {sha256}) is not the pinned one";

            case TlsVerification.CaBundle:
                if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
                {
                    return $"the backend's certificate does not name '{host}'";
                }

                using (var own = new X509Chain())
                {
                    own.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    own.ChainPolicy.CustomTrustStore.AddRange(connection.CaBundle ?? []);
                    own.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    if (chain is not null)
                    {
                        own.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
                    }

                    return own.Build(certificate) ? null : DescribeChain(own, certificate, "the connection's CA bundle");
                }

            default:
                if (errors == SslPolicyErrors.None)
                {
                    return null;
                }

                if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
                {
                    return $"the backend's certificate does not name '{host}'";
                }

                return chain is null ? "the backend's certificate chain could not be built" : DescribeChain(chain, certificate, "the system's trusted roots");
        }
    }

    private static string DescribeChain(X509Chain chain, X509Certificate2 certificate, string trust)
    {
        var statuses = chain.ChainStatus.Select(s => s.Status).ToHashSet();
        if (statuses.Contains(X509ChainStatusFlags.NotTimeValid))
        {
            return certificate.NotAfter.ToUniversalTime() < DateTime.UtcNow
                ? $"the backend's certificate expired on {certificate.NotAfter.ToUniversalTime():u}"
                : $"the backend's certificate is not valid before {certificate.NotBefore.ToUniversalTime():u}";
        }

        if (statuses.Contains(X509ChainStatusFlags.UntrustedRoot) || statuses.Contains(X509ChainStatusFlags.PartialChain))
        {
            return $"the backend's certificate is not issued by a CA in {trust}";
        }

        return "the backend's certificate was not accepted: " + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()));
    }
}

/// <summary>The latest handshake with one backend: protocol and cipher, or the reason it was refused.</summary>
public sealed class UpstreamTls
{
    private volatile string? _negotiated;
    private volatile string? _lastFailure;

    public string? Negotiated { get => _negotiated; internal set => _negotiated = value; }

    public string? LastFailure { get => _lastFailure; internal set => _lastFailure = value; }
}
