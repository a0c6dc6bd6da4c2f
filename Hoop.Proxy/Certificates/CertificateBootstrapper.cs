using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Proxy.Policy;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Certificates;

/// <summary>
/// Installs the stored current certificate at start, or creates and stores a self-signed one when there is none
/// (or when the host names are no longer covered by the self-signed one).
/// </summary>
public sealed partial class CertificateBootstrapper(
    CertificateStore store,
    InboundCertificate inbound,
    PolicyStore policy,
    AuditLog audit,
    TimeProvider time,
    ILogger<CertificateBootstrapper> logger) : IHostedLifecycleService
{
    /// <summary>
    /// Before any service starts: the system's trusted roots are read on the other core while the store migrates.
    /// Installing a certificate builds its chain, and the first chain built reads them all (about 0.1-0.2 s here),
    /// which otherwise lay on the path to a listening port. The runtime keeps them in one cache, so a chain built
    /// before this is done waits for it rather than reading them again; a failure here shows again there.
    /// </summary>
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        _ = Task.Run(() =>
        {
            try
            {
                using var roots = new X509Store(StoreName.Root, StoreLocation.LocalMachine);
                roots.Open(OpenFlags.ReadOnly);
                foreach (var root in roots.Certificates)
                {
                    root.Dispose();
                }
            }
            catch (CryptographicException)
            {
                // Only a warm-up: the chain build reports it.
            }
        }, cancellationToken);
        return Task.CompletedTask;
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var current = await store.LoadCurrentAsync(cancellationToken);
        if (current is { } found && !NeedsNewSelfSigned(found.Record))
        {
            inbound.InstallIfNone(found.Certificate, found.Chain);
            LogInstalled(found.Record.Source, found.Record.Thumbprint, found.Record.NotAfter);
            return;
        }

        // On a first start with ACME, the first order may have served its certificate already; this one is the fallback.
        await CreateSelfSignedAsync(certificate => inbound.InstallIfNone(certificate), cancellationToken);
    }

    /// <summary>
    /// Without ACME, a change of host names in the console gets a self-signed certificate for the new names; an
    /// ACME or uploaded certificate is left alone (the console says when it no longer covers them).
    /// </summary>
    public async Task EnsureCoveredAsync(CancellationToken cancellationToken)
    {
        if (await store.LoadCurrentAsync(cancellationToken) is { } found && NeedsNewSelfSigned(found.Record))
        {
            await CreateSelfSignedAsync(certificate => inbound.Install(certificate), cancellationToken);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private bool NeedsNewSelfSigned(Certificate record) => record.Source == CertificateSource.SelfSigned
        && (!policy.Current.Certificates.SameHostNames(record.HostNames) || record.NotAfter <= time.GetUtcNow().UtcDateTime.AddDays(30));

    /// <summary>A new self-signed certificate for the host names: stored as current, handed to <paramref name="serve"/>, audited.</summary>
    private async Task CreateSelfSignedAsync(Action<X509Certificate2> serve, CancellationToken cancellationToken)
    {
        var hostNames = policy.Current.Certificates.HostNames;
        var certificate = SelfSignedCertificate.Create(hostNames, time.GetUtcNow());
        var record = await store.SaveAsCurrentAsync(certificate, [], CertificateSource.SelfSigned, hostNames, r => audit.Create(AuditLog.System,
            "certificate.self-signed", r.Thumbprint, AuditOutcome.Success, new { r.HostNames, r.NotAfter }), cancellationToken);
        serve(certificate);
        LogCreated(string.Join(", ", hostNames), record.Thumbprint);
    }

    [LoggerMessage(2001, LogLevel.Information, "Serving the stored {Source} certificate {Thumbprint}, valid until {NotAfter:u}")]
    private partial void LogInstalled(CertificateSource source, string thumbprint, DateTime notAfter);

    [LoggerMessage(2002, LogLevel.Warning, "Created a self-signed certificate for {HostNames} ({Thumbprint}); configure ACME or upload a certificate for production")]
    private partial void LogCreated(string hostNames, string thumbprint);
}
