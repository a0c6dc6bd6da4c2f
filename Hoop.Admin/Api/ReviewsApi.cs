using Hoop.Admin.Management;
using Hoop.Data.Entities;
using static Hoop.Admin.Api.ApiResults;

namespace Hoop.Admin.Api;

/// <summary>Reviews: listed for reviewers and admins; decided by reviewers only (the service checks role, group and self).</summary>
internal static class ReviewsApi
{
    public static void MapReviewsApi(this IEndpointRouteBuilder endpoints)
    {
        var reviews = endpoints.MapGroup("/api/v1/reviews").RequireAuthorization(AdminApi.ReviewerPolicy).DisableAntiforgery().WithTags("reviews");
        reviews.MapGet("/", (ReviewService s, ReviewStatus? status, int? limit, CancellationToken ct) => s.ListAsync(status, limit ?? 100, ct));
        reviews.MapGet("/{id:guid}", async (Guid id, ReviewService s, CancellationToken ct) =>
            await s.GetAsync(id, ct) is { } found ? Results.Ok(found) : NotFound("review", id.ToString()));
        reviews.MapPost("/{id:guid}/decision", async (Guid id, ReviewDecisionInput input, ReviewService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.DecideAsync(id, input, http.User, ct), v => v.Version, notFound: ("review", id.ToString())));

    }
}
