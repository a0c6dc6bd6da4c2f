using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Hoop.Proxy.Certificates;

/// <summary>
/// The one certificate selector every TLS port uses. Each handshake reads the current value, so installing a
/// renewed or uploaded certificate takes effect on the next handshake with no restart; open connections keep theirs.
/// </summary>
public sealed class InboundCertificate
{
    private volatile Installed? _current;

    /// <summary>The certificate new handshakes get, or null before the first one is installed.</summary>
    public X509Certificate2? Certificate => _current?.Certificate;

    /// <summary>The certificate with its chain, built once per install rather than per handshake.</summary>
    public SslStreamCertificateContext Context =>
        _current?.Context ?? throw new InvalidOperationException("No inbound certificate is installed yet.");

    public void Install(X509Certificate2 certificate, X509Certificate2Collection? chain = null)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException("The inbound certificate needs its private key.", nameof(certificate));
        }

        var context = SslStreamCertificateContext.Create(certificate, chain, offline: true);
        _current = new Installed(certificate, context);
    }

    private sealed record Installed(X509Certificate2 Certificate, SslStreamCertificateContext Context);
}
