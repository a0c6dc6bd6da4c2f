using Hoop.Data.Entities;
using Hoop.Data.Logging;
using Hoop.Data.Store;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Recording;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>
/// How Hoop is doing right now, for the dashboard and GET /api/v1/overview: live sessions, pending reviews, the
/// day's denials, the inbound certificate, the break-glass admin's use, and the recorder's and log's health.
/// </summary>
public sealed class OverviewService(
    IDbContextFactory<HoopDbContext> contexts,
    CertificateService certificates,
    Recorder recorder,
    SqliteLogSink logs,
    PolicyStore policy,
    TimeProvider time)
{
    private const int LiveShown = 5;
    private const int DenialsShown = 10;

    public async Task<Overview> GetAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var (week, day) = (now.AddDays(-7), now.AddDays(-1));
        var open = db.Sessions.AsNoTracking().Where(s => s.Status == SessionStatus.Open);
        return new Overview(
            await open.CountAsync(cancellationToken),
            await open.OrderByDescending(s => s.StartedAt).Take(LiveShown)
                .Select(s => new LiveSessionView(s.Id, s.ConnectionName, s.DisplayName ?? s.Subject, s.StartedAt)).ToListAsync(cancellationToken),
            await db.Reviews.CountAsync(r => r.Status == ReviewStatus.Pending, cancellationToken),
            await db.AuditEvents.AsNoTracking().Where(a => a.Outcome == AuditOutcome.Denied && a.At >= day).OrderByDescending(a => a.Id).Take(DenialsShown)
                .Select(a => new DenialView(a.At, a.Actor, a.Action, a.Target)).ToListAsync(cancellationToken),
            await certificates.CurrentAsync(cancellationToken),
            await db.LocalAdmins.OrderBy(a => a.Id).Select(a => a.LastLoginAt).FirstOrDefaultAsync(cancellationToken),
            await db.AuditEvents.CountAsync(a => a.Action == "console.login" && a.Actor == "break-glass" && a.Outcome == AuditOutcome.Success && a.At >= week,
                cancellationToken),
            new RecordingHealth(recorder.Healthy, policy.Current.Recording.Mode.ToString(), recorder.Dropped),
            new LoggingHealth(logs.Written, logs.Dropped));
    }
}
