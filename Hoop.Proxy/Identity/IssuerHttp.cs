using System.Collections.Concurrent;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Hoop.Proxy.Model;
using Microsoft.IdentityModel.Protocols;

namespace Hoop.Proxy.Identity;

/// <summary>
/// A fetch from an identity provider that failed, with the cause in plain words (for the log, the agent's 401 and
/// the console's save). <see cref="Tls"/>: the provider's certificate was not accepted.
/// </summary>
internal sealed class IssuerFetchException(string message, bool tls) : IOException(message)
{
    public bool Tls => tls;
}

/// <summary>
/// HTTP to identity providers (discovery, keys, the console's token and userinfo calls): TLS verified with the
/// system's roots, or with the issuer's own CA bundle when it has one (a provider behind a private CA). A
/// certificate that is not accepted fails with the reason: not issued by a trusted CA, not naming the host, expired.
/// </summary>
public sealed class IssuerHttp
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, HttpClient> _clients = new(StringComparer.Ordinal);

    // The last refused handshake's reason per host name (a few entries: one per provider).
    private readonly ConcurrentDictionary<string, string> _tlsProblems = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The client for <paramref name="issuer"/>: one per distinct CA bundle, shared.</summary>
    public HttpClient ClientFor(IssuerOptions issuer)
    {
        var key = issuer.CaBundlePem is null ? "system" : Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(issuer.CaBundlePem)));
        return _clients.GetOrAdd(key, _ =>
        {
            var bundle = issuer.CaBundle;
            return new HttpClient(new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                SslOptions = new SslClientAuthenticationOptions
                {
                    RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
                    {
                        // The handshake runs apart from the request: its verdict is kept by host for the request to report.
                        var host = (sender as SslStream)?.TargetHostName ?? "";
                        var problem = Verify(bundle, host, certificate, chain, errors);
                        if (problem is null)
                        {
                            _tlsProblems.TryRemove(host, out string? _);
                        }
                        else
                        {
                            _tlsProblems[host] = problem;
                        }

                        return problem is null;
                    },
                },
            })
            { Timeout = Timeout };
        });
    }

    /// <summary>Reads a provider's discovery document or keys, requiring https unless <see cref="IssuerOptions.RequireHttpsMetadata"/> is off.</summary>
    public IDocumentRetriever Retriever(IssuerOptions issuer) => new DocumentRetriever(this, issuer);

    /// <summary>Sends <paramref name="request"/> to the provider; a failure to reach it becomes an <see cref="IssuerFetchException"/> with the cause.</summary>
    public async Task<HttpResponseMessage> SendAsync(IssuerOptions issuer, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        try
        {
            return await ClientFor(issuer).SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            var host = request.RequestUri?.Authority;
            if (e.InnerException is AuthenticationException tls)
            {
                var problem = _tlsProblems.TryGetValue(request.RequestUri?.IdnHost ?? "", out var known) ? known : tls.Message;
                throw new IssuerFetchException($"TLS with {host} failed: {problem}", tls: true);
            }

            throw new IssuerFetchException($"{host} could not be reached: {e.Message}", tls: false);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IssuerFetchException($"{request.RequestUri?.Authority} did not answer within {Timeout.TotalSeconds:0} seconds", tls: false);
        }
    }

    /// <summary>Null when the provider's certificate is acceptable, else the reason.</summary>
    private static string? Verify(X509Certificate2Collection? bundle, string host, X509Certificate? presented, X509Chain? chain, SslPolicyErrors errors)
    {
        if (presented is null)
        {
            return "the provider presented no certificate";
        }

        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return $"the provider's certificate does not name '{host}'";
        }

        using var certificate = new X509Certificate2(presented);
        if (bundle is null)
        {
            return errors == SslPolicyErrors.None ? null
                : chain is null ? "the provider's certificate chain could not be built"
                : Describe(chain, certificate, "the system's trusted roots (a provider behind a private CA needs the issuer's CA bundle)");
        }

        using var own = new X509Chain();
        own.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        own.ChainPolicy.CustomTrustStore.AddRange(bundle);
        own.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            own.ChainPolicy.ExtraStore.AddRange(chain.ChainPolicy.ExtraStore);
        }

        return own.Build(certificate) ? null : Describe(own, certificate, "the issuer's CA bundle");
    }

    private static string Describe(X509Chain chain, X509Certificate2 certificate, string trust)
    {
        var statuses = chain.ChainStatus.Select(s => s.Status).ToHashSet();
        if (statuses.Contains(X509ChainStatusFlags.NotTimeValid))
        {
            return certificate.NotAfter.ToUniversalTime() < DateTime.UtcNow
                ? $"the provider's certificate expired on {certificate.NotAfter.ToUniversalTime():u}"
                : $"the provider's certificate is not valid before {certificate.NotBefore.ToUniversalTime():u}";
        }

        if (statuses.Contains(X509ChainStatusFlags.UntrustedRoot) || statuses.Contains(X509ChainStatusFlags.PartialChain))
        {
            return $"the provider's certificate is not issued by a CA in {trust}";
        }

        return "the provider's certificate was not accepted: " + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()));
    }

    private sealed class DocumentRetriever(IssuerHttp http, IssuerOptions issuer) : IDocumentRetriever
    {
        public async Task<string> GetDocumentAsync(string address, CancellationToken cancel)
        {
            if (!Uri.TryCreate(address, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && issuer.RequireHttpsMetadata))
            {
                throw new IssuerFetchException($"'{address}' is not an https URL (plain http only for a provider on loopback with 'require https' off)", tls: false);
            }

            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            using var response = await http.SendAsync(issuer, request, cancel);
            if (!response.IsSuccessStatusCode)
            {
                throw new IssuerFetchException($"{address} answered {(int)response.StatusCode} {response.ReasonPhrase}", tls: false);
            }

            return await response.Content.ReadAsStringAsync(cancel);
        }
    }
}
