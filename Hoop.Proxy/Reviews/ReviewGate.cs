using System.Collections.Concurrent;
using System.Net.Http.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Guardrails.Rules;
using Hoop.Proxy.Model;
using Hoop.Proxy.Recording;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Reviews;

/// <summary>
/// Holds requests that need a just-in-time approval: each becomes a pending review in the store (so it survives a
/// restart), an approval "once" lets the identical request run one time, an approval for a window lets the caller
/// use the connection under that rule until it ends. Pending reviews expire. Every step is audited.
/// </summary>
public sealed partial class ReviewGate(
    IDbContextFactory<HoopDbContext> contexts,
    ReviewOptions options,
    ConsoleLink console,
    AuditLog audit,
    IHttpClientFactory httpClients,
    ActivityFeed feed,
    TimeProvider time,
    ILogger<ReviewGate> logger) : BackgroundService
{
    private static readonly TimeSpan Sweep = TimeSpan.FromSeconds(30);

    /// <summary>Pending reviews one caller may have open on one connection: more would only flood the reviewers.</summary>
    public const int MaxPendingPerCaller = 20;

    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _waiting = new();
    private readonly System.Threading.Channels.Channel<object> _announcements =
        System.Threading.Channels.Channel.CreateBounded<object>(new System.Threading.Channels.BoundedChannelOptions(100)
        {
            FullMode = System.Threading.Channels.BoundedChannelFullMode.DropOldest,
        });

    public Uri LinkTo(Guid id) => console.To($"reviews/{id}");

    /// <summary>Lets the request through on a standing approval, or finds or opens its pending review, and waits if asked.</summary>
    internal async Task<ReviewOutcome> CheckAsync(Caller caller, ConnectionPolicy connection, Guid? sessionId, Guardrail rule, string fingerprint,
        string request, string? justification, TimeSpan wait, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        // Every lookup is of this rule's reviews: an approval under one rule never stands in for another's.
        var requester = caller.Key;
        var mine = db.Reviews.AsNoTracking().Where(r => r.RuleId == rule.Id && r.ConnectionId == connection.Id && r.RequestedBy == requester);
        var window = await mine.Where(r => r.Status == ReviewStatus.Approved && r.Scope == ReviewScope.Window && r.WindowEndsAt > now)
            .FirstOrDefaultAsync(cancellationToken);
        if (window is not null)
        {
            return new(ReviewStatus.Approved, window, true);
        }

        // An approval "once" not used within the time a review may stay pending lapses.
        var since = now - options.PendingTimeout;
        var once = await mine.Where(r => r.Fingerprint == fingerprint && r.Status == ReviewStatus.Approved && r.Scope == ReviewScope.Once
            && r.ConsumedAt == null && r.DecidedAt > since).FirstOrDefaultAsync(cancellationToken);
        if (once is not null)
        {
            return new(ReviewStatus.Approved, once, true);
        }

        // A rejection stands for as long as a review may stay pending: asking again at once would only repeat the question.
        var rejected = await mine.Include(r => r.Decisions).Where(r => r.Fingerprint == fingerprint && r.Status == ReviewStatus.Rejected && r.DecidedAt > since)
            .OrderByDescending(r => r.DecidedAt).FirstOrDefaultAsync(cancellationToken);
        if (rejected is not null)
        {
            return new(ReviewStatus.Rejected, rejected, false);
        }

        var review = await mine.Where(r => r.Fingerprint == fingerprint && r.Status == ReviewStatus.Pending && r.ExpiresAt > now)
            .OrderBy(r => r.CreatedAt).FirstOrDefaultAsync(cancellationToken);
        if (review is null && await mine.CountAsync(r => r.Status == ReviewStatus.Pending && r.ExpiresAt > now, cancellationToken) >= MaxPendingPerCaller)
        {
            throw new TooManyReviewsException(
                $"You have {MaxPendingPerCaller} requests waiting for review on '{connection.Name}' already; wait for decisions before asking more.");
        }

        if (review is null)
        {
            review = new Review
            {
                ConnectionId = connection.Id,
                ConnectionName = connection.Name,
                RuleId = rule.Id,
                RuleName = rule.Name,
                ReviewerGroup = rule.ReviewerGroup,
                SessionId = sessionId,
                RequestedBy = requester,
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
            return await WaitAsync(review, wait < options.MaxWait ? wait : options.MaxWait, cancellationToken);
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

    private async Task<ReviewOutcome> WaitAsync(Review review, TimeSpan wait, CancellationToken cancellationToken)
    {
        try
        {
            return await WaitForDecisionAsync(review, wait, cancellationToken);
        }
        finally
        {
            _waiting.TryRemove(review.Id, out _);
        }
    }

    private async Task<ReviewOutcome> WaitForDecisionAsync(Review review, TimeSpan wait, CancellationToken cancellationToken)
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
                return new(ReviewStatus.Approved, now, now.Scope == ReviewScope.Window || now.ConsumedAt is null);
            }
        }
    }

    /// <summary>
    /// Uses up the approvals "once" that let a request through, after every rule did; of two racing identical
    /// requests only one gets them. False when one was used meanwhile (nothing is used then).
    /// </summary>
    public async Task<bool> UseAsync(IReadOnlyList<Review> approvals, string subject, CancellationToken cancellationToken)
    {
        if (approvals.Count == 0)
        {
            return true;
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var ids = approvals.Select(a => a.Id).ToList();
        var rows = await db.Reviews.Where(r => ids.Contains(r.Id) && r.ConsumedAt == null).ToListAsync(cancellationToken);
        if (rows.Count != ids.Count)
        {
            return false;
        }

        foreach (var row in rows)
        {
            row.ConsumedAt = time.GetUtcNow().UtcDateTime;
            db.AuditEvents.Add(audit.Create(subject, "review.used", row.ConnectionName, AuditOutcome.Success, new { review = row.Id }));
        }

        try
        {
            await db.SaveChangesAsync(cancellationToken);
            feed.Publish(ActivityChange.ReviewsChanged);
            return true;
        }
        catch (DbUpdateConcurrencyException)
        {
            return false;
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
        var announcing = AnnounceAllAsync(stoppingToken);
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

        await announcing;
    }

    /// <summary>Posts the queued announcements one at a time; a slow or failing chat service never holds anything up.</summary>
    private async Task AnnounceAllAsync(CancellationToken stoppingToken)
    {
        if (options.Webhook is not { } webhook)
        {
            return;
        }

        try
        {
            await foreach (var payload in _announcements.Reader.ReadAllAsync(stoppingToken))
            {
                try
                {
                    using var response = await httpClients.CreateClient("alerts").PostAsJsonAsync(webhook, payload, stoppingToken);
                    if (!response.IsSuccessStatusCode)
                    {
                        LogWebhookFailed($"HTTP {(int)response.StatusCode}");
                    }
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !stoppingToken.IsCancellationRequested)
                {
                    LogWebhookFailed(e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: what is still queued is not announced.
        }
    }

    /// <summary>Queues an announcement for the webhook (the oldest are dropped if it falls far behind).</summary>
    private void Announce(string text, Review review, string @event)
    {
        feed.Publish(ActivityChange.ReviewsChanged);
        if (options.Webhook is not null)
        {
            _announcements.Writer.TryWrite(new
            {
                text,
                @event,
                review = new { review.Id, review.ConnectionName, review.RuleName, review.RequestedBy, status = review.Status.ToString(), url = LinkTo(review.Id) },
            });
        }
    }

    [LoggerMessage(6001, LogLevel.Warning, "The review webhook could not be called: {Error}")]
    private partial void LogWebhookFailed(string error);

    [LoggerMessage(6002, LogLevel.Error, "Expiring pending reviews failed; trying again shortly: {Error}")]
    private partial void LogSweepFailed(string error);
}
