namespace Hoop.Proxy.Guardrails;

/// <summary>How a request or query fared against the guardrails that matched it.</summary>
internal enum GuardrailVerdict
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
