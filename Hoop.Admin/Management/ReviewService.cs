using System.Security.Claims;
using Hoop.Admin.Auth;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Recording;
using Hoop.Proxy.Reviews;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>A reviewer's decision: approve once (the identical request may run one time) or for a window of minutes, or reject with a reason.</summary>
public sealed record ReviewDecisionInput(bool? Approve, string? Scope, int? WindowMinutes, string? Reason);

public sealed record ReviewDecisionView(string Reviewer, bool Approved, string? Reason, DateTime At);

public sealed record ReviewView(Guid Id, string Connection, string Rule, string RequestedBy, string? RequestedByName, string Request, string? Justification,
    string Status, string Scope, int RequiredApprovals, DateTime CreatedAt, DateTime ExpiresAt, DateTime? DecidedAt, DateTime? WindowEndsAt,
    DateTime? ConsumedAt, string? ReviewerGroup, IReadOnlyList<ReviewDecisionView> Decisions, string Version);

/// <summary>
/// What reviewers see and decide. Only callers with the reviewer role (and, when the rule names one, in the rule's
/// reviewer group) decide; nobody decides on their own request; each reviewer votes once; a rejection ends it.
/// </summary>
public sealed class ReviewService(IDbContextFactory<HoopDbContext> contexts, ReviewGate gate, ActivityFeed feed, PolicyStore policy, AuditLog audit,
    TimeProvider time)
{
    private const int LongestWindowMinutes = 24 * 60;

    public async Task<IReadOnlyList<ReviewView>> ListAsync(ReviewStatus? status, int limit, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.Reviews.AsNoTracking().Include(r => r.Decisions).AsQueryable();
        if (status is { } s)
        {
            query = query.Where(r => r.Status == s);
        }

        return (await query.OrderByDescending(r => r.CreatedAt).Take(Math.Clamp(limit, 1, 500)).ToListAsync(cancellationToken)).Select(View).ToList();
    }

    public async Task<ReviewView?> GetAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var review = await db.Reviews.AsNoTracking().Include(r => r.Decisions).FirstOrDefaultAsync(r => r.Id == id, cancellationToken);
        return review is null ? null : View(review);
    }

    public async Task<ChangeResult<ReviewView>> DecideAsync(Guid id, ReviewDecisionInput input, ClaimsPrincipal reviewer, CancellationToken cancellationToken)
    {
        var subject = reviewer.FindFirstValue(ClaimTypes.NameIdentifier) ?? reviewer.Identity?.Name ?? "unknown";
        var name = reviewer.Identity?.Name ?? subject;
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var review = await db.Reviews.Include(r => r.Decisions).FirstOrDefaultAsync(r => r.Id == id, cancellationToken);
        if (review is null)
        {
            return ChangeResult<ReviewView>.Missing();
        }

        var now = time.GetUtcNow().UtcDateTime;
        if (review.Status == ReviewStatus.Pending && review.ExpiresAt <= now)
        {
            await gate.ExpireAsync(cancellationToken);
            return Refused("review", "The review expired before a decision; the agent has to ask again.", ChangeStatus.Conflict);
        }

        if (review.Status != ReviewStatus.Pending)
        {
            return Refused("review", $"The review is {review.Status.ToString().ToLowerInvariant()} already.", ChangeStatus.Conflict);
        }

        if (!reviewer.IsInRole(nameof(Roles.Reviewer)))
        {
            return Refused("review", "Deciding reviews needs the reviewer role.", ChangeStatus.Forbidden);
        }

        // The same person as the requester by their identity across providers, or (to be safe) by the same name.
        var key = reviewer.FindFirstValue(Auth.HoopClaims.CallerKey)
            ?? Hoop.Proxy.Model.Caller.KeyOf(subject, reviewer.FindFirstValue(HoopClaims.Issuer), null);
        if (key == review.RequestedBy || subject == review.RequestedBy || (review.RequestedByName is not null && name == review.RequestedByName))
        {
            return Refused("review", "You cannot decide on your own request.", ChangeStatus.Forbidden);
        }

        // Only groups the reviewer's identity provider may claim count (the same check roles get).
        var issuer = reviewer.FindFirstValue(HoopClaims.Issuer);
        if (review.ReviewerGroup is { } group
            && !policy.Current.AcceptedGroups(reviewer.FindAll(HoopClaims.Group).Select(c => c.Value), issuer).Contains(group))
        {
            return Refused("review", $"Only members of group '{group}' decide this review.", ChangeStatus.Forbidden);
        }

        if (review.Decisions.Any(d => d.Reviewer == subject))
        {
            return Refused("review", "You have decided on this review already; another reviewer must add theirs.", ChangeStatus.Conflict);
        }

        var approve = input.Approve ?? false;
        var reason = input.Reason?.Trim();
        var scope = ReviewScope.Once;
        var errors = new FieldErrors();
        if (!approve && string.IsNullOrEmpty(reason))
        {
            errors.Add("reason", "Say why the request is rejected; the agent is told.");
        }

        if (input.Scope is { } scopeText && !FieldRules.TryName(scopeText, out scope))
        {
            errors.Add("scope", $"'{scopeText}' is not a scope; use once or window.");
        }

        if (approve && scope == ReviewScope.Window && input.WindowMinutes is not (>= 1 and <= LongestWindowMinutes))
        {
            errors.Add("windowMinutes", $"Give the window in minutes, from 1 to {LongestWindowMinutes}.");
        }

        if (reason is { Length: > 1000 })
        {
            errors.Add("reason", "Keep the reason under 1,000 characters.");
        }
        else
        {
            FieldRules.Text(errors, "reason", reason, 1000);
        }

        if (errors.Any)
        {
            return ChangeResult<ReviewView>.Invalid(errors.ToDictionary());
        }

        // Added through its set: a new decision with its key already set would otherwise be taken for an existing row.
        var decision = new ReviewDecision { ReviewId = review.Id, Reviewer = subject, Approved = approve, Reason = reason, At = now };
        db.ReviewDecisions.Add(decision);
        if (!review.Decisions.Contains(decision))
        {
            review.Decisions.Add(decision);
        }

        string action;
        if (!approve)
        {
            review.Status = ReviewStatus.Rejected;
            review.DecidedAt = now;
            action = "review.rejected";
        }
        else if (review.Decisions.Count(d => d.Approved) >= review.RequiredApprovals)
        {
            review.Status = ReviewStatus.Approved;
            review.Scope = scope;
            review.DecidedAt = now;
            review.WindowEndsAt = scope == ReviewScope.Window ? now.AddMinutes(input.WindowMinutes!.Value) : null;
            action = "review.approved";
        }
        else
        {
            action = "review.approval-added";
        }

        db.AuditEvents.Add(audit.Create(subject, action, review.ConnectionName, AuditOutcome.Success,
            new { review = review.Id, rule = review.RuleName, requestedBy = review.RequestedBy, scope = scope.ToString(), input.WindowMinutes, reason }));
        // Every decision changes the review's version, so two reviewers deciding at once cannot both count.
        db.Entry(review).State = EntityState.Modified;
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            return ChangeResult<ReviewView>.Stale();
        }
        catch (DbUpdateException)
        {
            // The unique (review, reviewer) index: the same reviewer deciding twice at once.
            return Refused("review", "You have decided on this review already; another reviewer must add theirs.", ChangeStatus.Conflict);
        }

        if (review.Status != ReviewStatus.Pending)
        {
            gate.Decided(review, $"Review {review.Status.ToString().ToLowerInvariant()} by {name}: {review.RequestedByName ?? review.RequestedBy} on {review.ConnectionName} ({review.RuleName}).");
        }
        else
        {
            feed.Publish(ActivityChange.ReviewsChanged); // One approval of several: other reviewers' pages show it too.
        }

        return new(ChangeStatus.Ok, View(review));
    }

    private static ChangeResult<ReviewView> Refused(string field, string message, ChangeStatus status) =>
        new(status, Errors: new Dictionary<string, string[]> { [field] = [message] });

    private static ReviewView View(Review r) => new(r.Id, r.ConnectionName, r.RuleName, r.RequestedBy, r.RequestedByName, r.Request, r.Justification,
        r.Status.ToString().ToLowerInvariant(), r.Scope.ToString().ToLowerInvariant(), r.RequiredApprovals, r.CreatedAt, r.ExpiresAt, r.DecidedAt,
        r.WindowEndsAt, r.ConsumedAt, r.ReviewerGroup,
        r.Decisions.OrderBy(d => d.At).Select(d => new ReviewDecisionView(d.Reviewer, d.Approved, d.Reason, d.At)).ToList(), r.Version.ToString("n"));
}
