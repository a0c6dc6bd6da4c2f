using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Entities;
using Hoop.Proxy.Model;

namespace Hoop.Proxy.Upstream;

/// <summary>Checks a backend's certificate against its connection's TLS verification mode: for the data path and the console's Test.</summary>
public static class BackendCertificate
{
    /// <summary>Null when the backend's certificate is acceptable, else the reason in plain words.</summary>
    public static string? Verify(ConnectionPolicy connection, X509Certificate? presented, X509Chain? chain, SslPolicyErrors errors)
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
