using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Certificates;
using Hoop.Proxy.Policy;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>The certificate history, and certificates an admin uploads instead of ACME: checked like ACME's, then installed.</summary>
public sealed class CertificateService(IDbContextFactory<HoopDbContext> contexts, CertificateInstaller installer, PolicyStore policy)
{
    public async Task<List<CertificateView>> HistoryAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var all = await db.Certificates.AsNoTracking().OrderByDescending(c => c.CreatedAt).Take(100).ToListAsync(cancellationToken);
        return all.Select(View).ToList();
    }

    /// <summary>The certificate served now, or null before the first one is installed.</summary>
    public async Task<CertificateView?> CurrentAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Certificates.AsNoTracking().FirstOrDefaultAsync(c => c.IsCurrent, cancellationToken) is { } current ? View(current) : null;
    }

    private static CertificateView View(Certificate c) => new(c.Id, c.Source, c.HostNames, c.Subject, c.Issuer, c.Thumbprint, c.SerialNumber, c.KeyType,
        c.NotBefore, c.NotAfter, c.IsCurrent, c.CreatedAt, c.ReplacedAt);

    /// <summary>A PEM certificate (with its chain after it) and its PEM private key.</summary>
    public Task<ChangeResult<CertificateView>> UploadPemAsync(string? certificatePem, string? privateKeyPem, string actor, CancellationToken cancellationToken)
    {
        X509Certificate2Collection all;
        X509Certificate2 withKey;
        try
        {
            all = [];
            all.ImportFromPem(certificatePem ?? "");
            if (all.Count == 0)
            {
                return Invalid("certificatePem", "Paste the certificate as PEM (-----BEGIN CERTIFICATE-----), its chain after it.");
            }

            using var fromPem = X509Certificate2.CreateFromPem(all[0].ExportCertificatePem(), privateKeyPem ?? "");
            withKey = X509CertificateLoader.LoadPkcs12(fromPem.Export(X509ContentType.Pkcs12), null);
        }
        catch (CryptographicException)
        {
            return Invalid("privateKeyPem", "Paste the certificate's private key as unencrypted PEM (-----BEGIN PRIVATE KEY-----); it must match the certificate.");
        }
        catch (ArgumentException)
        {
            return Invalid("privateKeyPem", "Paste the certificate's private key as unencrypted PEM (-----BEGIN PRIVATE KEY-----); it must match the certificate.");
        }

        return InstallAsync(withKey, new X509Certificate2Collection(all.Skip(1).ToArray()), "certificatePem", actor, cancellationToken);
    }

    /// <summary>A PKCS#12 (PFX) file with the key and, ideally, the chain.</summary>
    public Task<ChangeResult<CertificateView>> UploadPfxAsync(byte[] pfx, string? password, string actor, CancellationToken cancellationToken)
    {
        X509Certificate2Collection all;
        try
        {
            all = X509CertificateLoader.LoadPkcs12Collection(pfx, password);
        }
        catch (CryptographicException)
        {
            return Invalid("pfx", "That file is not a PKCS#12 (PFX) file, or the password is not right.");
        }

        var leaf = all.FirstOrDefault(c => c.HasPrivateKey);
        return leaf is null
            ? Invalid("pfx", "The PFX file holds no private key.")
            : InstallAsync(leaf, new X509Certificate2Collection(all.Where(c => !ReferenceEquals(c, leaf)).ToArray()), "pfx", actor, cancellationToken);
    }

    private async Task<ChangeResult<CertificateView>> InstallAsync(X509Certificate2 certificate, X509Certificate2Collection chain, string field,
        string actor, CancellationToken cancellationToken)
    {
        try
        {
            var record = await installer.InstallAsync(certificate, chain, CertificateSource.Uploaded, policy.Current.Certificates.HostNames, actor, cancellationToken);
            return new(ChangeStatus.Created, (await HistoryAsync(cancellationToken)).First(c => c.Id == record.Id));
        }
        catch (CertificateRejectedException e)
        {
            return await Invalid(field, e.Message);
        }
    }

    private static Task<ChangeResult<CertificateView>> Invalid(string field, string message) =>
        Task.FromResult(ChangeResult<CertificateView>.Invalid(new() { [field] = [message] }));
}

public sealed record CertificateView(Guid Id, CertificateSource Source, IReadOnlyList<string> HostNames, string Subject, string Issuer,
    string Thumbprint, string SerialNumber, string KeyType, DateTime NotBefore, DateTime NotAfter, bool IsCurrent, DateTime CreatedAt, DateTime? ReplacedAt);
