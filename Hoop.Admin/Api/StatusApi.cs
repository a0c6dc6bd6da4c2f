using Hoop.Admin.Management;

namespace Hoop.Admin.Api;

/// <summary>How Hoop is doing: the dashboard's overview for auditors and admins; Hoop's own log for admins.</summary>
internal static class StatusApi
{
    public static void MapStatusApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGroup("/api/v1").RequireAuthorization(AdminApi.AuditorPolicy).DisableAntiforgery().WithTags("status")
            .MapGet("/overview", (OverviewService s, CancellationToken ct) => s.GetAsync(ct));
        endpoints.MapGroup("/api/v1").RequireAuthorization(AdminApi.AdminPolicy).DisableAntiforgery().WithTags("status")
            .MapGet("/logs", async (LogQueries q, string? level, int? hours, string? text, int? limit, CancellationToken ct) =>
            {
                try
                {
                    return Results.Ok(await q.SearchAsync(level ?? LogQueries.Levels[0], hours ?? 24, text, limit ?? 100, ct));
                }
                catch (ArgumentException e)
                {
                    return Results.Problem(statusCode: 400, title: "Unknown filter value", detail: e.Message);
                }
            });
    }
}
