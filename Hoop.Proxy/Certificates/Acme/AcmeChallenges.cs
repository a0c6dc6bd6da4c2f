using System.Collections.Concurrent;
using System.Formats.Asn1;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Hoop.Proxy.Certificates.Acme;

/// <summary>
/// The challenge responses waiting for the ACME server to look: http-01 key authorizations by token, and
/// tls-alpn-01 certificates by host name. Entries live only while their authorization is being validated.
/// </summary>
public sealed class AcmeChallenges
{
    /// <summary>The ALPN protocol of tls-alpn-01 (RFC 8737).</summary>
    public static readonly SslApplicationProtocol AcmeTls = new("acme-tls/1");

    private const string Http01Prefix = "/.well-known/acme-challenge/";
    private static readonly Oid AcmeIdentifier = new("1.3.6.1.5.5.7.1.31");

    private readonly ConcurrentDictionary<string, string> _http01 = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SslStreamCertificateContext> _tlsAlpn01 = new(StringComparer.OrdinalIgnoreCase);
    private readonly TaskCompletionSource _answering = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the ports that answer the CA's validation are open: the CA is not asked to look before.</summary>
    public Task Answering => _answering.Task;

    /// <summary>Called by the host once its listeners are bound.</summary>
    public void ListenersOpen() => _answering.TrySetResult();

    public void AddHttp01(string token, string keyAuthorization) => _http01[token] = keyAuthorization;

    public void RemoveHttp01(string token) => _http01.TryRemove(token, out _);

    /// <summary>A self-signed certificate for <paramref name="name"/> carrying the key authorization's digest (RFC 8737 section 3).</summary>
    public void AddTlsAlpn01(string name, string keyAuthorization, TimeProvider time)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=acme-tls-alpn-01", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build(critical: true));
        var der = new AsnWriter(AsnEncodingRules.DER);
        der.WriteOctetString(SHA256.HashData(Encoding.ASCII.GetBytes(keyAuthorization)));
        request.CertificateExtensions.Add(new X509Extension(AcmeIdentifier, der.Encode(), critical: true));
        var now = time.GetUtcNow();
        var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        _tlsAlpn01[name] = SslStreamCertificateContext.Create(certificate, null, offline: true);
    }

    public void RemoveTlsAlpn01(string name) => _tlsAlpn01.TryRemove(name, out _);

    /// <summary>Whether a tls-alpn-01 validation may arrive now (so handshakes on the proxy port are worth peeking at).</summary>
    public bool AwaitingTlsAlpn01 => !_tlsAlpn01.IsEmpty;

    /// <summary>The challenge certificate for a handshake that offered only acme-tls/1 for <paramref name="name"/>, if one is waiting.</summary>
    public SslStreamCertificateContext? TlsAlpn01For(string? name) =>
        name is not null && _tlsAlpn01.TryGetValue(name, out var context) ? context : null;

    /// <summary>The whole http-01 port: the key authorization for a known token, 404 for anything else.</summary>
    public Task ServeHttp01Async(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (HttpMethods.IsGet(context.Request.Method) && path.StartsWith(Http01Prefix, StringComparison.Ordinal)
            && _http01.TryGetValue(path[Http01Prefix.Length..], out var keyAuthorization))
        {
            context.Response.ContentType = "application/octet-stream";
            return context.Response.WriteAsync(keyAuthorization);
        }

        context.Response.StatusCode = StatusCodes.Status404NotFound;
        return Task.CompletedTask;
    }
}
