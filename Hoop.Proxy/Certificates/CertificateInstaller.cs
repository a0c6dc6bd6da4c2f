using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Audit;
using Hoop.Data.Entities;

namespace Hoop.Proxy.Certificates;

/// <summary>
/// The one way a new inbound certificate (issued by ACME or uploaded) goes live: checked first, then stored as
/// current (the old one stays in the history) and swapped into the selector every TLS port reads per handshake.
/// </summary>
public sealed class CertificateInstaller(CertificateStore store, InboundCertificate inbound, PublicRoots publicRoots, AuditLog audit, TimeProvider time)
{
    /// <summary>Checks and installs; throws <see cref="CertificateRejectedException"/> (nothing changes) when a check fails.</summary>
    public async Task<Certificate> InstallAsync(X509Certificate2 certificate, X509Certificate2Collection chain, CertificateSource source,
        IReadOnlyList<string> hostNames, string actor, CancellationToken cancellationToken)
    {
        Check(certificate, chain, hostNames);
        var current = await store.LoadCurrentAsync(cancellationToken);
        if (current is { } c && c.Record.Source != CertificateSource.SelfSigned && c.Record.NotAfter > time.GetUtcNow().UtcDateTime
            && publicRoots.Trust(c.Certificate, c.Chain) && !publicRoots.Trust(certificate, chain))
        {
            throw new CertificateRejectedException(
                $"The new certificate (issuer {certificate.Issuer}) is not publicly trusted and would replace one that is: a staging or test CA? The current certificate stays.");
        }

        var record = await store.SaveAsCurrentAsync(certificate, chain, source, hostNames, r => audit.Create(actor, "certificate.installed",
            r.Thumbprint, AuditOutcome.Success, new { source = source.ToString(), r.HostNames, r.Issuer, r.NotAfter }), cancellationToken);
        inbound.Install(certificate, chain);
        return record;
    }

    /// <summary>Names covered, private key present, not expired or not yet valid, and a chain that builds.</summary>
    public void Check(X509Certificate2 certificate, X509Certificate2Collection chain, IReadOnlyList<string> hostNames)
    {
        if (!certificate.HasPrivateKey)
        {
            throw new CertificateRejectedException("The certificate has no private key (or the key does not match it).");
        }

        var missing = hostNames.Where(n => !certificate.MatchesHostname(n, allowWildcards: true)).ToList();
        if (missing.Count > 0)
        {
            throw new CertificateRejectedException($"The certificate does not cover {string.Join(", ", missing)}.");
        }

        var now = time.GetUtcNow().UtcDateTime;
        if (certificate.NotAfter.ToUniversalTime() <= now)
        {
            throw new CertificateRejectedException($"The certificate expired on {certificate.NotAfter.ToUniversalTime():u}.");
        }

        if (certificate.NotBefore.ToUniversalTime() > now.AddMinutes(5))
        {
            throw new CertificateRejectedException($"The certificate is not valid before {certificate.NotBefore.ToUniversalTime():u}.");
        }

        // The chain must link up to its root by signatures; whether that root is trusted is the clients' business.
        using var built = new X509Chain();
        built.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        built.ChainPolicy.VerificationFlags = X509VerificationFlags.AllowUnknownCertificateAuthority;
        built.ChainPolicy.VerificationTime = now;
        built.ChainPolicy.ExtraStore.AddRange(chain);
        if (!built.Build(certificate) && built.ChainStatus.Any(s => s.Status is not X509ChainStatusFlags.UntrustedRoot))
        {
            throw new CertificateRejectedException("The certificate's chain does not build: " +
                string.Join("; ", built.ChainStatus.Select(s => s.StatusInformation.Trim())));
        }
    }
}

/// <summary>
/// The roots that make a certificate "publicly trusted": the system's (tests give their own). A certificate that does
/// not chain to them (a staging CA's) never replaces one that does.
/// </summary>
public sealed class PublicRoots(X509Certificate2Collection? roots = null)
{
    public bool Trust(X509Certificate2 certificate, X509Certificate2Collection chain)
    {
        using var built = new X509Chain();
        built.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        built.ChainPolicy.ExtraStore.AddRange(chain);
        if (roots is not null)
        {
            built.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            built.ChainPolicy.CustomTrustStore.AddRange(roots);
        }

        return built.Build(certificate);
    }
}

/// <summary>A certificate that failed a check before installation; the message says which, in plain words.</summary>
public sealed class CertificateRejectedException(string message) : Exception(message);
