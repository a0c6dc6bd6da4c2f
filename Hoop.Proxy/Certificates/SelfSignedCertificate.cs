using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Hoop.Proxy.Certificates;

/// <summary>The certificate Hoop serves at first start, before ACME or an upload replaces it.</summary>
internal static class SelfSignedCertificate
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromDays(365);

    /// <summary>
    /// An ECDSA P-256 certificate for the host names (and loopback addresses when "localhost" is among them).
    /// Clients trust it by pinning it as their CA file (curl --cacert, psql sslrootcert), so it is its own CA.
    /// </summary>
    public static X509Certificate2 Create(IReadOnlyList<string> hostNames, DateTimeOffset now)
    {
        ArgumentOutOfRangeException.ThrowIfZero(hostNames.Count);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hostNames[0]}, O=Hoop self-signed", key, HashAlgorithmName.SHA256);

        var names = new SubjectAlternativeNameBuilder();
        foreach (var name in hostNames)
        {
            if (IPAddress.TryParse(name, out var address))
            {
                names.AddIpAddress(address);
            }
            else
            {
                names.AddDnsName(name);
                // Connections are reached as <connection>.<host>: cover them with a wildcard. TLS clients
                // refuse a wildcard over a single label (*.localhost), so only names with a dot get one.
                if (name.Contains('.', StringComparison.Ordinal) && !name.StartsWith("*.", StringComparison.Ordinal))
                {
                    names.AddDnsName("*." + name);
                }
            }
        }

        if (hostNames.Contains("localhost", StringComparer.OrdinalIgnoreCase))
        {
            names.AddIpAddress(IPAddress.Loopback);
            names.AddIpAddress(IPAddress.IPv6Loopback);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));

        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // positive
        using var signed = request.Create(request.SubjectName, X509SignatureGenerator.CreateForECDsa(key),
            now.AddMinutes(-5), now.Add(Lifetime), serial);
        using var withKey = signed.CopyWithPrivateKey(key);
        // Round-trip through PKCS#12 so the key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }
}
