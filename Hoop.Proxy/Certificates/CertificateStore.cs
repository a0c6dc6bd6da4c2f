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
    /// <summary>The current certificate's record, the certificate with its key and its chain, or null when there is none.</summary>
    public async Task<(Certificate Record, X509Certificate2 Certificate, X509Certificate2Collection Chain)?> LoadCurrentAsync(CancellationToken cancellationToken)
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
            var all = X509CertificateLoader.LoadPkcs12Collection(pfx, null);
            var leaf = all.First(c => c.HasPrivateKey);
            var chain = new X509Certificate2Collection(all.Where(c => !ReferenceEquals(c, leaf)).ToArray());
            return (record, leaf, chain);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pfx);
        }
    }

    /// <summary>
    /// Stores a certificate as the current one (the previous one stays in the history) with the audit event
    /// <paramref name="audited"/> makes of it, in one transaction: a certificate is never current without its audit record.
    /// </summary>
    public async Task<Certificate> SaveAsCurrentAsync(X509Certificate2 certificate, X509Certificate2Collection chain, CertificateSource source,
        IReadOnlyList<string> hostNames, Func<Certificate, AuditEvent> audited, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var bundle = new X509Certificate2Collection(certificate);
        bundle.AddRange(chain);
        var pfx = bundle.Export(X509ContentType.Pkcs12)!;
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
        db.AuditEvents.Add(audited(record));
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
