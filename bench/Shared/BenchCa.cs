// Compiled into the baselines (bench/BareYarp, bench/BareRelay): they trust the bench CA the way Hoop trusts a
// connection's CA bundle, so each side of a comparison verifies the backend alike.
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

internal static class BenchCa
{
    /// <summary>Accepts a certificate whose name matches and whose chain ends at <paramref name="ca"/>.</summary>
    public static RemoteCertificateValidationCallback Trust(X509Certificate2 ca) => (_, presented, _, errors) =>
    {
        if (presented is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(new X509Certificate2(presented));
    };
}
