using Hoop.Data.Entities;

namespace Hoop.Proxy.Guardrails;

/// <summary>
/// The guardrails' decision: the verdict, the rule it came from, the review (held, rejected, expired, used), and for
/// a rejection or too many reviews the reason given. Each protocol turns it into its own answer.
/// </summary>
internal sealed record GuardrailDecision(GuardrailVerdict Verdict, string? RuleName = null, string? RuleMessage = null, Review? Review = null, string? Reason = null)
{
    public static readonly GuardrailDecision Pass = new(GuardrailVerdict.Pass);

    /// <summary>How the recording names a stop: denied by a rule, or held by a review.</summary>
    public GuardrailStop Stop => Verdict is GuardrailVerdict.Denied or GuardrailVerdict.NotReviewable ? GuardrailStop.Denied : GuardrailStop.Held;
}
