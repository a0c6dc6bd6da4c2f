using Hoop.Data.Entities;
using Hoop.Proxy.Guardrails.Rules;
using Hoop.Proxy.Model;
using Hoop.Proxy.Reviews;

namespace Hoop.Proxy.Guardrails;

/// <summary>
/// The guardrail loop both protocols share: the rules that matched, in order; a deny rule stops it; a review rule
/// holds it unless an approval covers it (<see cref="ReviewGate"/>); approvals "once" are used up only when every
/// rule let it through. Which rules match is the protocol's business (a request's method, path, headers and body;
/// each SQL statement), and so is the answer it gives.
/// </summary>
public sealed class GuardrailEvaluator(ReviewGate reviews)
{
    /// <summary>The decision, and the reviews whose approval let it through (in <paramref name="approvedBy"/>, on a pass only).</summary>
    internal async Task<GuardrailDecision> EvaluateAsync(IEnumerable<Guardrail> matched, Caller caller, ConnectionPolicy connection, Guid? sessionId,
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
