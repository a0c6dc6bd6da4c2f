using System.Security.Cryptography;
using Hoop.Data.Store;
using Hoop.Proxy.Model;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Certificates.Acme;

/// <summary>What the first start's order got: the account it made (when it got that far), and the certificate or the error.</summary>
internal sealed record FirstOrderOutcome(ECDsa? AccountKey, string? AccountUrl, IssuedCertificate? Issued, Exception? Error);

/// <summary>
/// On a first start (no store yet) with ACME configured, the first certificate is ordered from the configuration at
/// once, while the store is created and migrated, rather than after: a new container serves a CA-issued certificate
/// within about a second. The account key and the certificate stay in memory; the certificate serves handshakes as
/// soon as it is issued, and <see cref="CertificateRenewal"/> stores both once the store is ready (or records the
/// failure as its first). A store that exists already has its settings, account and certificate: nothing happens here.
/// </summary>
public sealed partial class FirstOrder(
    CertificateSettings configured,
    StoreOptions store,
    AcmeIssuer issuer,
    AcmeChallenges challenges,
    CertificateInstaller installer,
    InboundCertificate inbound,
    ILogger<FirstOrder> logger) : IHostedLifecycleService, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>Null when there was no first order (the store existed, or ACME is off).</summary>
    internal Task<FirstOrderOutcome?> Outcome { get; private set; } = Task.FromResult<FirstOrderOutcome?>(null);

    /// <summary>Before any service starts, so before the store is created: whether it exists tells a first start.</summary>
    public Task StartingAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(store.DatabasePath) && configured.Acme.Enabled && configured.AcmeHostNames.Count > 0)
        {
            Outcome = Task.Run(() => OrderAsync(_stopping.Token), CancellationToken.None);
        }

        return Task.CompletedTask;
    }

    private async Task<FirstOrderOutcome?> OrderAsync(CancellationToken cancellationToken)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        string? accountUrl = null;
        try
        {
            var hostNames = issuer.NamesToOrder(configured);
            var client = await issuer.RegisterUnstoredAsync(configured.Acme, key, cancellationToken);
            accountUrl = client.AccountUrl;
            var issued = await issuer.ObtainAsync(client, hostNames, configured.Acme, replaces: null, challenges.Answering, cancellationToken);
            // Checked as an install checks it, before it is served; the install once the store is ready checks again.
            installer.Check(issued.Certificate, issued.Chain, issued.HostNames);
            inbound.Install(issued.Certificate, issued.Chain);
            LogServed(string.Join(", ", issued.HostNames));
            return new FirstOrderOutcome(key, accountUrl, issued, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            key.Dispose();
            return null;
        }
        catch (Exception e)
        {
            if (accountUrl is null)
            {
                key.Dispose();
                return new FirstOrderOutcome(null, null, null, e);
            }

            return new FirstOrderOutcome(key, accountUrl, null, e);
        }
    }

    public Task StoppingAsync(CancellationToken cancellationToken) => _stopping.CancelAsync();

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _stopping.Dispose();

    [LoggerMessage(2018, LogLevel.Information, "First start: the ACME certificate for {HostNames} is served; it is stored once the store is ready")]
    private partial void LogServed(string hostNames);
}
