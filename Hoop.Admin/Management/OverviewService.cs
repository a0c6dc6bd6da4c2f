using Hoop.Data.Entities;
using Hoop.Data.Logging;
using Hoop.Data.Records;
using Hoop.Data.Store;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Recording;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>
/// How Hoop is doing right now, for the dashboard and GET /api/v1/overview: live sessions, pending reviews, the
/// day's denials, the inbound certificate, the break-glass admin's use, the recorder's and log's health, and the
/// last 24 hours of traffic for the charts.
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
            new LoggingHealth(logs.Written, logs.Dropped),
            await ActivityAsync(db, now, cancellationToken));
    }

    private const int Hours = 24;

    /// <summary>The recorded events of the last 24 hours (the current one included) by hour and by connection.</summary>
    private static async Task<ActivityView> ActivityAsync(HoopDbContext db, DateTime now, CancellationToken cancellationToken)
    {
        var last = new DateTime(now.Year, now.Month, now.Day, now.Hour, 0, 0, DateTimeKind.Utc);
        var hours = Enumerable.Range(0, Hours).Select(i => last.AddHours(i - Hours + 1)).ToList();
        var counts = await RecordedEvents.HourlyAsync(db, hours[0], cancellationToken);
        var sessions = counts.Select(c => c.SessionId).Distinct().ToList();
        var connections = await db.Sessions.AsNoTracking().Where(s => sessions.Contains(s.Id)).ToDictionaryAsync(s => s.Id, s => s.ConnectionName, cancellationToken);

        int[] PerHour(Func<HourlyActivity, int> value)
        {
            var series = new int[Hours];
            foreach (var c in counts)
            {
                // An event stamped ahead of this clock (another instance's) counts in the current hour.
                series[Math.Min(Hours - 1, (int)(c.Hour - hours[0]).TotalHours)] += value(c);
            }

            return series;
        }

        var byConnection = counts.GroupBy(c => connections.GetValueOrDefault(c.SessionId, "(deleted)"))
            .Select(g => new ConnectionActivity(g.Key, g.Sum(c => c.Events), g.Sum(c => c.Denied), g.Sum(c => c.Held), g.Sum(c => c.Masked)))
            .OrderByDescending(c => c.Requests).ThenBy(c => c.Connection, StringComparer.Ordinal).ToList();
        return new ActivityView(hours, PerHour(c => c.Events), PerHour(c => c.Denied), PerHour(c => c.Held), PerHour(c => c.Masked), byConnection);
    }
}
