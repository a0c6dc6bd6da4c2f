using Hoop.Data.Entities;
using Hoop.Proxy.Guardrails.Rules;
using Hoop.Proxy.Model;
using Hoop.Proxy.Reviews;

namespace Hoop.Proxy.Guardrails;

/// <summary>How a request or query fared against the guardrails that matched it.</summary>
public enum GuardrailVerdict
{
    /// <summary>Nothing denied it, and every review rule that matched has an approval: it goes on.</summary>
    Pass,

    /// <summary>A deny rule matched.</summary>
    Denied,

    /// <summary>A review rule matched, but a reviewer could not be shown all of it (an HTTP body over the limit).</summary>
    NotReviewable,

    /// <summary>Held as a review that awaits a decision.</summary>
    Held,

    Rejected,
    Expired,

    /// <summary>The caller has too many reviews pending already.</summary>
    TooManyReviews,

    /// <summary>Its approval "once" was used a moment ago by an identical request.</summary>
    ApprovalUsed,
}

/// <summary>
/// The guardrails' decision: the verdict, the rule it came from, the review (held, rejected, expired, used), and for
/// a rejection or too many reviews the reason given. Each protocol turns it into its own answer.
/// </summary>
public sealed record GuardrailDecision(GuardrailVerdict Verdict, string? RuleName = null, string? RuleMessage = null, Review? Review = null, string? Reason = null)
{
    public static readonly GuardrailDecision Pass = new(GuardrailVerdict.Pass);

    /// <summary>The recording's word for a stop: "denied" by a rule, or "held" by a review.</summary>
    public string RecordedAs => Verdict is GuardrailVerdict.Denied or GuardrailVerdict.NotReviewable ? "denied" : "held";
}

/// <summary>
/// What a review rule shows its reviewers and what makes two requests "the identical request" for an approval; each
/// is computed once, when the first review rule matches.
/// </summary>
public sealed class ReviewSubject(Func<string> fingerprint, Func<string> description, string? justification, TimeSpan preferredWait, bool reviewable = true)
{
    private readonly Lazy<string> _fingerprint = new(fingerprint);
    private readonly Lazy<string> _description = new(description);

    public string Fingerprint => _fingerprint.Value;
    public string Description => _description.Value;
    public string? Justification => justification;

    /// <summary>How long the caller is willing to wait for a decision (HTTP's Prefer: wait=N).</summary>
    public TimeSpan PreferredWait => preferredWait;

    /// <summary>False when a reviewer could not be shown all of it: a review rule then denies instead.</summary>
    public bool Reviewable => reviewable;
}

/// <summary>
/// The guardrail loop both protocols share: the rules that matched, in order; a deny rule stops it; a review rule
/// holds it unless an approval covers it (<see cref="ReviewGate"/>); approvals "once" are used up only when every
/// rule let it through. Which rules match is the protocol's business (a request's method, path, headers and body;
/// each SQL statement), and so is the answer it gives.
/// </summary>
public sealed class GuardrailEvaluator(ReviewGate reviews)
{
    /// <summary>The decision, and the reviews whose approval let it through (in <paramref name="approvedBy"/>, on a pass only).</summary>
    public async Task<GuardrailDecision> EvaluateAsync(IEnumerable<Guardrail> matched, Caller caller, ConnectionPolicy connection, Guid? sessionId,
        ReviewSubject subject, List<Guid> approvedBy, CancellationToken cancellationToken)
    {
        var once = new List<Review>();
        var allowedBy = new List<Guid>();
        foreach (var rule in matched)
        {
            if (rule.Action == GuardrailAction.Deny)
            {
                return new(GuardrailVerdict.Denied, rule.Name, rule.Message);
            }

            if (!subject.Reviewable)
            {
                return new(GuardrailVerdict.NotReviewable, rule.Name, rule.Message);
            }

            ReviewOutcome outcome;
            try
            {
                outcome = await reviews.CheckAsync(caller, connection, sessionId, rule, subject.Fingerprint, subject.Description, subject.Justification,
                    subject.PreferredWait, cancellationToken);
            }
            catch (TooManyReviewsException e)
            {
                return new(GuardrailVerdict.TooManyReviews, rule.Name, rule.Message, Reason: e.Message);
            }

            if (outcome.Allowed)
            {
                allowedBy.Add(outcome.Review.Id);
                if (outcome.UsesApprovalOnce)
                {
                    once.Add(outcome.Review);
                }

                continue;
            }

            var review = outcome.Review;
            return outcome.Status switch
            {
                ReviewStatus.Rejected => new(GuardrailVerdict.Rejected, rule.Name, rule.Message, review,
                    review.Decisions.LastOrDefault(d => !d.Approved)?.Reason ?? "no reason given"),
                ReviewStatus.Expired => new(GuardrailVerdict.Expired, rule.Name, rule.Message, review),
                _ => new(GuardrailVerdict.Held, rule.Name, rule.Message, review),
            };
        }

        if (!await reviews.UseAsync(once, caller.Subject, cancellationToken))
        {
            return new(GuardrailVerdict.ApprovalUsed, once[0].RuleName, Review: once[0]);
        }

        approvedBy.AddRange(allowedBy);
        return GuardrailDecision.Pass;
    }
}
