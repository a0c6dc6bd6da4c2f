using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Certificates;

/// <summary>
/// Installs the stored current certificate at start, or creates and stores a self-signed one when there is none
/// (or when the configured host names are no longer covered by the self-signed one).
/// </summary>
internal sealed partial class CertificateBootstrapper(
    CertificateStore store,
    InboundCertificate inbound,
    CertificateOptions options,
    AuditLog audit,
    TimeProvider time,
    ILogger<CertificateBootstrapper> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var current = await store.LoadCurrentAsync(cancellationToken);
        var renewBy = time.GetUtcNow().UtcDateTime.AddDays(30);
        if (current is { } found && (found.Record.Source != CertificateSource.SelfSigned
            || (Covers(found.Record, options.HostNames) && found.Record.NotAfter > renewBy)))
        {
            inbound.Install(found.Certificate, found.Chain);
            LogInstalled(found.Record.Source, found.Record.Thumbprint, found.Record.NotAfter);
            return;
        }

        var certificate = SelfSignedCertificate.Create(options.HostNames, time.GetUtcNow());
        var record = await store.SaveAsCurrentAsync(certificate, CertificateSource.SelfSigned, options.HostNames, cancellationToken);
        inbound.Install(certificate);
        await audit.WriteAsync(AuditLog.System, "certificate.self-signed", record.Thumbprint, AuditOutcome.Success,
            new { record.HostNames, record.NotAfter }, cancellationToken);
        LogCreated(string.Join(", ", options.HostNames), record.Thumbprint);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private static bool Covers(Certificate record, IReadOnlyList<string> hostNames) =>
        hostNames.All(n => record.HostNames.Contains(n, StringComparer.OrdinalIgnoreCase));

    [LoggerMessage(2001, LogLevel.Information, "Serving the stored {Source} certificate {Thumbprint}, valid until {NotAfter:u}")]
    private partial void LogInstalled(CertificateSource source, string thumbprint, DateTime notAfter);

    [LoggerMessage(2002, LogLevel.Warning, "Created a self-signed certificate for {HostNames} ({Thumbprint}); configure ACME or upload a certificate for production")]
    private partial void LogCreated(string hostNames, string thumbprint);
}
