using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Proxy.Certificates.Acme;

/// <summary>What the certificate page and the dashboard show about ACME: when it last tried, what went wrong, what is next.</summary>
public sealed class CertificateStatus
{
    public DateTimeOffset? LastAttempt { get; set; }
    public string? LastError { get; set; }
    public DateTimeOffset? NextAttempt { get; set; }
    public DateTimeOffset? LastSuccess { get; set; }

    /// <summary>Set when the certificate has less than 14 days left and renewal has not succeeded.</summary>
    public bool Expiring { get; set; }
}

/// <summary>
/// Keeps an ACME certificate in place: orders one when the current certificate is not from ACME or is not for the
/// host names, at once when an admin changes the names, the CA or the key type, renews at 2/3 of its lifetime (1/2 for 10 days or less) or at a random time inside the
/// server's ARI window (RFC 9773), retries failures with exponential backoff and jitter (at least the server's
/// Retry-After), and alerts when less than 14 days are left. Without ACME it keeps a self-signed certificate for the
/// host names. Serving never waits for any of it.
/// </summary>
public sealed partial class CertificateRenewal(
    PolicyStore policy,
    CertificateBootstrapper bootstrapper,
    CertificateStore store,
    AcmeIssuer issuer,
    FirstOrder firstOrder,
    AcmeChallenges challenges,
    CertificateStatus status,
    AuditLog audit,
    IHttpClientFactory httpClients,
    TimeProvider time,
    ILogger<CertificateRenewal> logger) : BackgroundService
{
    private static readonly TimeSpan Recheck = TimeSpan.FromHours(6);
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromHours(6);
    private static readonly TimeSpan AlertBelow = TimeSpan.FromDays(14);

    private TaskCompletionSource _woken = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // 1 when the next round must order without waiting for the renewal time; taken (reset) at the top of a round,
    // so a request that comes in while the round runs is kept for the next one.
    private int _force;
    private volatile bool _issuing;
    private (string Thumbprint, DateTimeOffset Start, DateTimeOffset End, DateTimeOffset Chosen)? _ariChoice;
    private CertificateSettings? _seen;

    /// <summary>Orders a new certificate now (the console's "renew now").</summary>
    public void RenewNow()
    {
        // A click while an order is under way would order a second certificate right after it (and CAs limit duplicates).
        if (_issuing)
        {
            return;
        }

        Interlocked.Exchange(ref _force, 1);
        _woken.TrySetResult();
    }

    /// <summary>A change of certificate settings in the console wakes the loop; some of them call for a new certificate at once.</summary>
    private void OnPolicyChanged()
    {
        var next = policy.Current.Certificates;
        var before = Interlocked.Exchange(ref _seen, next);
        if (before is null || (next.SameHostNames(before.HostNames) && next.Acme == before.Acme))
        {
            return;
        }

        if (next.NeedsNewCertificateAfter(before))
        {
            Interlocked.Exchange(ref _force, 1);
        }

        _woken.TrySetResult();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _seen = policy.Current.Certificates;
        using var watch = ChangeToken.OnChange(() => policy.ChangeToken, OnPolicyChanged);

        await Task.Yield(); // Start-up never waits for the ACME server: the hosted services after this one start now.
        // A first start's order began before the store existed; its outcome is this loop's first round.
        var first = await firstOrder.Outcome;
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var forced = Interlocked.Exchange(ref _force, 0) == 1;
                var settings = policy.Current.Certificates;
                if (!settings.Acme.Enabled)
                {
                    status.NextAttempt = null;
                    await bootstrapper.EnsureCoveredAsync(stoppingToken);
                    await SleepAsync(Recheck, stoppingToken);
                    continue;
                }

                if (first is { } outcome)
                {
                    first = null;
                    status.LastAttempt = time.GetUtcNow();
                    await KeepFirstAsync(outcome, settings, stoppingToken);
                }
                else if (!await IssueWhenDueAsync(settings, forced, stoppingToken))
                {
                    continue;
                }

                failures = 0;
                status.LastError = null;
                status.Expiring = false;
                status.LastSuccess = time.GetUtcNow();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Whatever went wrong (the CA, the store, a bad setting), serving goes on with the current certificate.
                failures++;
                var backoff = Backoff(failures, (e as AcmeException)?.RetryAfter, Random.Shared.NextDouble());
                await RecordFailureAsync(e, failures, backoff, stoppingToken);
                await SleepAsync(backoff, stoppingToken);
                Interlocked.Exchange(ref _force, 1); // The retry does not wait for the renewal time again.
            }
        }
    }

    /// <summary>
    /// Orders a certificate when the current one is due for replacement (at once when <paramref name="forced"/>);
    /// otherwise waits until it is (at most <see cref="Recheck"/>) and returns false.
    /// </summary>
    private async Task<bool> IssueWhenDueAsync(CertificateSettings settings, bool forced, CancellationToken cancellationToken)
    {
        var current = await store.LoadCurrentAsync(cancellationToken);
        if (!forced)
        {
            var due = await DueAsync(settings, current, cancellationToken);
            status.NextAttempt = due;
            var wait = due - time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                await SleepAsync(wait < Recheck ? wait : Recheck, cancellationToken);
                return false;
            }
        }

        status.LastAttempt = time.GetUtcNow();
        _issuing = true;
        try
        {
            await issuer.IssueAsync(settings, ReplacesOf(current), "acme", challenges.Answering, cancellationToken);
        }
        finally
        {
            // Before the backoff: "renew now" during it must not be ignored.
            _issuing = false;
        }

        return true;
    }

    /// <summary>Stores what the first start's order got, once the store is ready; its failure is thrown as this loop's.</summary>
    private async Task KeepFirstAsync(FirstOrderOutcome outcome, CertificateSettings settings, CancellationToken cancellationToken)
    {
        using var key = outcome.AccountKey;
        if (key is not null && outcome.AccountUrl is not null)
        {
            await issuer.SaveAccountAsync(settings.Acme, key, outcome.AccountUrl, cancellationToken);
        }

        if (outcome.Error is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(outcome.Error);
        }

        await issuer.InstallAsync(outcome.Issued!, "acme", cancellationToken);
    }

    private async Task RecordFailureAsync(Exception e, int failures, TimeSpan backoff, CancellationToken cancellationToken)
    {
        var message = e is AcmeException or CertificateRejectedException ? e.Message : $"{e.GetType().Name}: {e.Message}";
        LogFailed(failures, backoff, message);
        status.NextAttempt = time.GetUtcNow() + backoff;
        var settings = policy.Current.Certificates;
        try
        {
            await audit.WriteAsync("acme", "certificate.renewal-failed", string.Join(",", settings.HostNames), AuditOutcome.Failed,
                new { error = message, failures, retryIn = backoff.ToString() }, CancellationToken.None);
            await AlertIfExpiringAsync(settings, message, cancellationToken);
        }
        catch (Exception recording) when (recording is not OperationCanceledException)
        {
            LogFailed(failures, backoff, $"(and could not record it: {recording.Message})");
        }

        status.LastError = message;
    }

    /// <summary>The ARI id of the certificate being replaced, when there is one to name; the order is placed either way.</summary>
    private static string? ReplacesOf((Certificate Record, X509Certificate2 Certificate, X509Certificate2Collection Chain)? current)
    {
        if (current is not { Record.Source: CertificateSource.Acme } c)
        {
            return null;
        }

        try
        {
            return RenewalId(c.Certificate);
        }
        catch (AcmeException)
        {
            return null;
        }
    }

    /// <summary>When the current certificate should be replaced.</summary>
    private async Task<DateTimeOffset> DueAsync(CertificateSettings settings,
        (Certificate Record, X509Certificate2 Certificate, X509Certificate2Collection Chain)? current, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (current is { Record.Source: CertificateSource.Uploaded })
        {
            // An admin's own certificate is not replaced behind their back: only "renew now" orders one.
            return now + Recheck;
        }

        if (current is not { } c || c.Record.Source != CertificateSource.Acme || !settings.SameAcmeHostNames(c.Record.HostNames))
        {
            return now;
        }

        try
        {
            var client = await issuer.ConnectAsync(settings.Acme, cancellationToken);
            if (await client.RenewalInfoAsync(RenewalId(c.Certificate), cancellationToken) is { } window)
            {
                return ChooseInWindow(c.Record.Thumbprint, window.Start, window.End, Random.Shared.NextDouble());
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogRenewalInfoUnavailable(e.Message); // Fall back to the lifetime rule.
        }

        return DueByLifetime(c.Record.NotBefore, c.Record.NotAfter);
    }

    /// <summary>2/3 of the lifetime, or 1/2 for certificates of 10 days or less.</summary>
    public static DateTimeOffset DueByLifetime(DateTime notBefore, DateTime notAfter)
    {
        var lifetime = notAfter - notBefore;
        var share = lifetime <= TimeSpan.FromDays(10) ? 0.5 : 2.0 / 3.0;
        return new DateTimeOffset(DateTime.SpecifyKind(notBefore, DateTimeKind.Utc)) + lifetime * share;
    }

    /// <summary>A random moment inside the ARI window, chosen once per certificate and window (RFC 9773 section 4.2).</summary>
    public DateTimeOffset ChooseInWindow(string thumbprint, DateTimeOffset start, DateTimeOffset end, double random)
    {
        if (_ariChoice is { } chosen && chosen.Thumbprint == thumbprint && chosen.Start == start && chosen.End == end)
        {
            return chosen.Chosen;
        }

        var at = start + (end - start) * random;
        _ariChoice = (thumbprint, start, end, at);
        return at;
    }

    /// <summary>1 minute doubling per failure up to 6 hours, ±20% jitter, never sooner than the server's Retry-After.</summary>
    public static TimeSpan Backoff(int failures, TimeSpan? retryAfter, double random)
    {
        var doubled = FirstRetry * Math.Pow(2, Math.Min(failures - 1, 16));
        var capped = doubled > LongestRetry ? LongestRetry : doubled;
        var jittered = capped * (0.8 + 0.4 * random);
        return retryAfter is { } asked && asked > jittered ? asked : jittered;
    }

    /// <summary>The ARI certificate identifier: base64url of the authority key id, a dot, base64url of the serial's DER bytes.</summary>
    public static string RenewalId(X509Certificate2 certificate)
    {
        var aki = certificate.Extensions.OfType<X509AuthorityKeyIdentifierExtension>().FirstOrDefault()?.KeyIdentifier
            ?? throw new AcmeException("The certificate has no authority key identifier, so the server's renewal information cannot be asked for.");
        return $"{Base64UrlEncoder.Encode(aki.ToArray())}.{Base64UrlEncoder.Encode(certificate.SerialNumberBytes.ToArray())}";
    }

    private async Task AlertIfExpiringAsync(CertificateSettings settings, string error, CancellationToken cancellationToken)
    {
        var current = await store.LoadCurrentAsync(cancellationToken);
        if (current is not { } c || c.Record.NotAfter - time.GetUtcNow().UtcDateTime >= AlertBelow)
        {
            return;
        }

        var daysLeft = (int)(c.Record.NotAfter - time.GetUtcNow().UtcDateTime).TotalDays;
        status.Expiring = true;
        LogExpiring(daysLeft, error);
        if (settings.Acme.AlertWebhook is { } webhook)
        {
            try
            {
                using var response = await httpClients.CreateClient("alerts").PostAsJsonAsync(webhook,
                    new { @event = "certificate.expiring", daysLeft, hostNames = settings.HostNames, notAfter = c.Record.NotAfter, error }, cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                LogWebhookFailed(e.Message);
            }
        }
    }

    /// <summary>Waits, or less when <see cref="RenewNow"/> is called.</summary>
    private async Task SleepAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        var woken = _woken.Task;
        await Task.WhenAny(Task.Delay(wait, time, cancellationToken), woken);
        cancellationToken.ThrowIfCancellationRequested();
        if (woken.IsCompleted)
        {
            _woken = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    [LoggerMessage(2012, LogLevel.Warning, "ACME renewal failed ({Failures} in a row), next try in {Backoff}: {Error}")]
    private partial void LogFailed(int failures, TimeSpan backoff, string error);

    [LoggerMessage(2013, LogLevel.Error, "The inbound certificate expires in {DaysLeft} days and cannot be renewed: {Error}")]
    private partial void LogExpiring(int daysLeft, string error);

    [LoggerMessage(2014, LogLevel.Warning, "The certificate alert webhook could not be called: {Error}")]
    private partial void LogWebhookFailed(string error);

    [LoggerMessage(2015, LogLevel.Information, "No ACME renewal information, renewing by lifetime: {Error}")]
    private partial void LogRenewalInfoUnavailable(string error);
}
