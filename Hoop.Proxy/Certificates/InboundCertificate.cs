using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Hoop.Proxy.Certificates;

/// <summary>
/// The one certificate selector every TLS port uses. Each handshake reads the current value, so installing a
/// renewed or uploaded certificate takes effect on the next handshake with no restart; open connections keep theirs.
/// </summary>
public sealed class InboundCertificate
{
    // Read and written with Volatile/Interlocked: a handshake on any thread sees the latest install.
    private Installed? _current;
    private readonly TaskCompletionSource _first = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The certificate new handshakes get, or null before the first one is installed.</summary>
    public X509Certificate2? Certificate => Volatile.Read(ref _current)?.Certificate;

    /// <summary>
    /// Completes when the first certificate is installed. The ports open before the store is ready, so a handshake
    /// that comes in earlier waits for it.
    /// </summary>
    public Task FirstInstalled => _first.Task;

    /// <summary>The certificate with its chain, built once per install rather than per handshake.</summary>
    public SslStreamCertificateContext Context =>
        Volatile.Read(ref _current)?.Context ?? throw new InvalidOperationException("No inbound certificate is installed yet.");

    public void Install(X509Certificate2 certificate, X509Certificate2Collection? chain = null)
    {
        Volatile.Write(ref _current, Prepare(certificate, chain));
        _first.TrySetResult();
    }

    /// <summary>
    /// Installs only while nothing is served: the stored or self-signed certificate at start never replaces one the
    /// first start's ACME order installed before it.
    /// </summary>
    public void InstallIfNone(X509Certificate2 certificate, X509Certificate2Collection? chain = null)
    {
        Interlocked.CompareExchange(ref _current, Prepare(certificate, chain), null);
        _first.TrySetResult();
    }

    private static Installed Prepare(X509Certificate2 certificate, X509Certificate2Collection? chain)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!certificate.HasPrivateKey)
        {
            throw new ArgumentException("The inbound certificate needs its private key.", nameof(certificate));
        }

        return new Installed(certificate, SslStreamCertificateContext.Create(certificate, chain, offline: true));
    }

    private sealed record Installed(X509Certificate2 Certificate, SslStreamCertificateContext Context);
}
