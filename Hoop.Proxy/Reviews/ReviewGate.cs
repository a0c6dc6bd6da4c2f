using System.Collections.Concurrent;
using System.Net.Http.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Guardrails;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Policy;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Reviews;

/// <summary>How long a held request waits for reviewers, and where new reviews and decisions are announced (Hoop:Reviews).</summary>
public sealed class ReviewOptions
{
    public TimeSpan PendingTimeout { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The longest an agent may ask to wait for a decision with "Prefer: wait=N".</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>A Slack-compatible incoming webhook ({"text": ...}) for new reviews and decisions.</summary>
    public Uri? Webhook { get; init; }

    /// <summary>The console's base URL, for links to a review (set again at start with the port actually bound).</summary>
    public required Uri ConsoleUrl { get; set; }
}

/// <summary>What became of a request that a review rule caught.</summary>
public sealed record ReviewOutcome(ReviewStatus Status, Review Review, bool Allowed);

/// <summary>
/// Holds requests that need a just-in-time approval: each becomes a pending review in the store (so it survives a
/// restart), an approval "once" lets the identical request run one time, an approval for a window lets the caller
/// use the connection under that rule until it ends. Pending reviews expire. Every step is audited.
/// </summary>
public sealed partial class ReviewGate(
    IDbContextFactory<HoopDbContext> contexts,
    ReviewOptions options,
    AuditLog audit,
    IHttpClientFactory httpClients,
    TimeProvider time,
    ILogger<ReviewGate> logger) : BackgroundService
{
    private static readonly TimeSpan Sweep = TimeSpan.FromSeconds(30);
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiting = new();

    public Uri LinkTo(Guid id) => new(options.ConsoleUrl, $"reviews/{id}");

    /// <summary>Lets the request through on a standing approval, or finds or opens its pending review, and waits if asked.</summary>
    public async Task<ReviewOutcome> CheckAsync(Caller caller, ConnectionPolicy connection, HttpGuardrail rule, string fingerprint,
        string request, string? justification, TimeSpan wait, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var window = await db.Reviews.AsNoTracking().Where(r => r.ConnectionId == connection.Id && r.RuleId == rule.Id && r.RequestedBy == caller.Subject
            && r.Status == ReviewStatus.Approved && r.Scope == ReviewScope.Window && r.WindowEndsAt > now).FirstOrDefaultAsync(cancellationToken);
        if (window is not null)
        {
            return new(ReviewStatus.Approved, window, true);
        }

        if (await ConsumeAsync(db, fingerprint, caller.Subject, cancellationToken) is { } once)
        {
            return new(ReviewStatus.Approved, once, true);
        }

        // A rejection stands for as long as a review may stay pending: asking again at once would only repeat the question.
        var since = now - options.PendingTimeout;
        var rejected = await db.Reviews.AsNoTracking().Include(r => r.Decisions).Where(r => r.Fingerprint == fingerprint && r.RequestedBy == caller.Subject
            && r.Status == ReviewStatus.Rejected && r.DecidedAt > since).OrderByDescending(r => r.DecidedAt).FirstOrDefaultAsync(cancellationToken);
        if (rejected is not null)
        {
            return new(ReviewStatus.Rejected, rejected, false);
        }

        var review = await db.Reviews.AsNoTracking().Where(r => r.Fingerprint == fingerprint && r.RequestedBy == caller.Subject
            && r.Status == ReviewStatus.Pending && r.ExpiresAt > now).OrderBy(r => r.CreatedAt).FirstOrDefaultAsync(cancellationToken);
        if (review is null)
        {
            review = new Review
            {
                ConnectionId = connection.Id,
                ConnectionName = connection.Name,
                RuleId = rule.Id,
                RuleName = rule.Name,
                ReviewerGroup = rule.ReviewerGroup,
                RequestedBy = caller.Subject,
                RequestedByName = caller.DisplayName,
                Request = request,
                Fingerprint = fingerprint,
                Justification = justification,
                RequiredApprovals = Math.Max(1, rule.MinApprovals),
                CreatedAt = now,
                ExpiresAt = now + options.PendingTimeout,
            };
            db.Reviews.Add(review);
            db.AuditEvents.Add(audit.Create(caller.Subject, "review.requested", connection.Name, AuditOutcome.Success,
                new { review = review.Id, rule = rule.Name, justification }));
            await db.SaveChangesAsync(cancellationToken);
            Announce($"Review needed: {caller.DisplayName} on {connection.Name} ({rule.Name}): {LinkTo(review.Id)}", review, "review.requested");
        }

        if (wait > TimeSpan.Zero)
        {
            return await WaitAsync(review, caller.Subject, wait < options.MaxWait ? wait : options.MaxWait, cancellationToken);
        }

        return new(ReviewStatus.Pending, review, false);
    }

    /// <summary>Called after a decision so that an agent waiting on it goes on at once.</summary>
    public void Decided(Review review, string text)
    {
        if (_waiting.TryRemove(review.Id, out var waiter))
        {
            waiter.TrySetResult();
        }

        Announce(text, review, "review.decided");
    }

    private async Task<ReviewOutcome> WaitAsync(Review review, string subject, TimeSpan wait, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + wait;
        while (true)
        {
            var decided = _waiting.GetOrAdd(review.Id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            var left = deadline - time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                return new(ReviewStatus.Pending, review, false);
            }

            // A decision made by another instance sharing the store is seen by the poll.
            await Task.WhenAny(decided, Task.Delay(left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1), time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
            await using var db = await contexts.CreateDbContextAsync(cancellationToken);
            var now = await db.Reviews.AsNoTracking().Include(r => r.Decisions).FirstAsync(r => r.Id == review.Id, cancellationToken);
            if (now.Status == ReviewStatus.Rejected || now.Status == ReviewStatus.Expired)
            {
                return new(now.Status, now, false);
            }

            if (now.Status == ReviewStatus.Approved)
            {
                if (now.Scope == ReviewScope.Window)
                {
                    return new(ReviewStatus.Approved, now, true);
                }

                return await ConsumeAsync(db, now.Fingerprint, subject, cancellationToken) is { } consumed
                    ? new(ReviewStatus.Approved, consumed, true)
                    : new(ReviewStatus.Pending, now, false);
            }
        }
    }

    /// <summary>Uses up an approval "once" of this exact request; of two racing requests only one gets it.</summary>
    private async Task<Review?> ConsumeAsync(HoopDbContext db, string fingerprint, string subject, CancellationToken cancellationToken)
    {
        var approval = await db.Reviews.Where(r => r.Fingerprint == fingerprint && r.RequestedBy == subject
            && r.Status == ReviewStatus.Approved && r.Scope == ReviewScope.Once && r.ConsumedAt == null).FirstOrDefaultAsync(cancellationToken);
        if (approval is null)
        {
            return null;
        }

        approval.ConsumedAt = time.GetUtcNow().UtcDateTime;
        db.AuditEvents.Add(audit.Create(subject, "review.used", approval.ConnectionName, AuditOutcome.Success, new { review = approval.Id }));
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return approval;
        }
        catch (DbUpdateConcurrencyException)
        {
            return null;
        }
    }

    /// <summary>Marks pending reviews past their time as expired.</summary>
    public async Task ExpireAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var expired = await db.Reviews.Where(r => r.Status == ReviewStatus.Pending && r.ExpiresAt <= now).ToListAsync(cancellationToken);
        foreach (var review in expired)
        {
            review.Status = ReviewStatus.Expired;
            review.DecidedAt = now;
            db.AuditEvents.Add(audit.Create(AuditLog.System, "review.expired", review.ConnectionName, AuditOutcome.Success, new { review = review.Id }));
        }

        if (expired.Count > 0)
        {
            await db.SaveChangesAsync(cancellationToken);
            foreach (var review in expired)
            {
                Decided(review, $"Review expired without a decision: {review.RequestedByName ?? review.RequestedBy} on {review.ConnectionName} ({review.RuleName}).");
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Sweep, time, stoppingToken);
                await ExpireAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is DbUpdateException or Microsoft.Data.Sqlite.SqliteException or InvalidOperationException)
            {
                LogSweepFailed(e.Message);
            }
        }
    }

    /// <summary>Posts to the webhook in the background: a slow chat service never holds up a request or a decision.</summary>
    private void Announce(string text, Review review, string @event)
    {
        if (options.Webhook is not { } webhook)
        {
            return;
        }

        var payload = new
        {
            text,
            @event,
            review = new { review.Id, review.ConnectionName, review.RuleName, review.RequestedBy, status = review.Status.ToString(), url = LinkTo(review.Id) },
        };
        _ = Task.Run(async () =>
        {
            try
            {
                using var response = await httpClients.CreateClient("alerts").PostAsJsonAsync(webhook, payload);
                if (!response.IsSuccessStatusCode)
                {
                    LogWebhookFailed($"HTTP {(int)response.StatusCode}");
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                LogWebhookFailed(e.Message);
            }
        });
    }

    [LoggerMessage(6001, LogLevel.Warning, "The review webhook could not be called: {Error}")]
    private partial void LogWebhookFailed(string error);

    [LoggerMessage(6002, LogLevel.Error, "Expiring pending reviews failed; trying again shortly: {Error}")]
    private partial void LogSweepFailed(string error);
}
