using Hoop.Data.Entities;

namespace Hoop.Proxy.Reviews;

/// <summary>
/// What became of a request that a review rule caught. An allowed outcome on an approval "once" still has to be
/// used up (<see cref="ReviewGate.UseAsync"/>) once every rule has let the request through.
/// </summary>
internal sealed record ReviewOutcome(ReviewStatus Status, Review Review, bool Allowed)
{
    public bool UsesApprovalOnce => Allowed && Review.Scope == ReviewScope.Once;
}
