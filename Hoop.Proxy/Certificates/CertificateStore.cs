using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Proxy.Certificates;

/// <summary>Reads and writes inbound certificates in the store; the private key is kept encrypted.</summary>
public sealed class CertificateStore(IDbContextFactory<HoopDbContext> contexts, SecretProtector secrets, TimeProvider time)
{
    /// <summary>The current certificate's record and the certificate with its key, or null when there is none.</summary>
    public async Task<(Certificate Record, X509Certificate2 Certificate)?> LoadCurrentAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var record = await db.Certificates.AsNoTracking().FirstOrDefaultAsync(c => c.IsCurrent, cancellationToken);
        if (record is null)
        {
            return null;
        }

        var pfx = secrets.UnprotectBytes(record.ProtectedPfx);
        try
        {
            return (record, X509CertificateLoader.LoadPkcs12(pfx, null));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pfx);
        }
    }

    /// <summary>Stores a certificate as the current one; the previous one stays in the history.</summary>
    public async Task<Certificate> SaveAsCurrentAsync(X509Certificate2 certificate, CertificateSource source, IReadOnlyList<string> hostNames, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var pfx = certificate.Export(X509ContentType.Pkcs12);
        var record = new Certificate
        {
            Source = source,
            HostNames = [.. hostNames],
            Subject = certificate.Subject,
            Issuer = certificate.Issuer,
            Thumbprint = certificate.GetCertHashString(HashAlgorithmName.SHA256),
            SerialNumber = certificate.SerialNumber,
            KeyType = KeyType(certificate),
            NotBefore = certificate.NotBefore.ToUniversalTime(),
            NotAfter = certificate.NotAfter.ToUniversalTime(),
            ProtectedPfx = secrets.Protect(pfx),
            IsCurrent = true,
            CreatedAt = now,
        };
        CryptographicOperations.ZeroMemory(pfx);

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        foreach (var previous in await db.Certificates.Where(c => c.IsCurrent).ToListAsync(cancellationToken))
        {
            previous.IsCurrent = false;
            previous.ReplacedAt = now;
        }

        db.Certificates.Add(record);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return record;
    }

    public static string KeyType(X509Certificate2 certificate)
    {
        using var ec = certificate.GetECDsaPublicKey();
        if (ec is not null)
        {
            return $"ECDSA P-{ec.KeySize}";
        }

        using var rsa = certificate.GetRSAPublicKey();
        return rsa is not null ? $"RSA {rsa.KeySize}" : certificate.PublicKey.Oid.FriendlyName ?? "unknown";
    }
}
