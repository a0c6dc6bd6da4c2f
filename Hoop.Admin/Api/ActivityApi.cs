using Hoop.Admin.Management;
using Hoop.Data.Entities;
using Hoop.Proxy.Policy;
using Microsoft.AspNetCore.Http.HttpResults;
using static Hoop.Admin.Api.ApiResults;

namespace Hoop.Admin.Api;

/// <summary>
/// What happened: sessions (listed for auditors and admins, and for anyone else their own when an admin allows it),
/// the audit log, exports, search, integrity checks and the recording's public key; legal hold for admins.
/// </summary>
internal static class ActivityApi
{
    public static void MapActivityApi(this IEndpointRouteBuilder endpoints)
    {
        var sessions = endpoints.MapGroup("/api/v1/sessions").RequireAuthorization(AdminApi.SignedInPolicy).DisableAntiforgery().WithTags("activity");
        sessions.MapGet("/", async (ActivityQueries q, PolicyStore policy, HttpContext http, string? search, string? agent, string? group, string? connection,
            ConnectionKind? protocol, DateTime? from, DateTime? to, string? outcome, string? contains, int? limit, CancellationToken ct) =>
        {
            var scope = SessionScope.Of(http.User, policy.Current);
            if (scope.Nothing)
            {
                return NoSessions();
            }

            try
            {
                return Results.Ok(await q.SessionsAsync(scope.Narrow(new SessionFilter(search, agent, group, connection, protocol, from, to, outcome, contains)),
                    limit ?? 100, ct));
            }
            catch (ArgumentException e)
            {
                return Results.Problem(statusCode: 400, title: "Unknown filter value", detail: e.Message);
            }
        });
        sessions.MapGet("/{id:guid}", async (Guid id, ActivityQueries q, PolicyStore policy, HttpContext http, CancellationToken ct) =>
        {
            var scope = SessionScope.Of(http.User, policy.Current);
            if (scope.Nothing)
            {
                return NoSessions();
            }

            // Someone else's session is not found: whether it exists is not theirs to know either.
            return await q.FindSessionAsync(id, ct) is { } session && scope.Allows(session)
                ? Results.Ok(new { Session = session, Events = await q.EventsPageAsync(id, 0, ActivityQueries.MaxRows, ct) })
                : NotFound("session", id.ToString());
        });

        var read = endpoints.MapGroup("/api/v1").RequireAuthorization(AdminApi.AuditorPolicy).DisableAntiforgery().WithTags("activity");
        read.MapGet("/audit", (ActivityQueries q, string? search, AuditOutcome? outcome, int? limit, CancellationToken ct) =>
            q.AuditAsync(search, outcome, limit ?? 100, ct));
        read.MapPost("/sessions/{id:guid}/verify", async (Guid id, IntegrityService integrity, HttpContext http, CancellationToken ct) =>
            await integrity.VerifySessionAsync(id, Actor(http), ct) is { } report ? Results.Ok(report) : NotFound("session", id.ToString()));
        read.MapGet("/sessions/export", async (string? format, string? search, string? agent, string? group, string? connection, ConnectionKind? protocol,
            DateTime? from, DateTime? to, string? outcome, string? contains, IntegrityService integrity, HttpContext http, CancellationToken ct) =>
        {
            if (!KnownFormat(format))
            {
                return UnknownFormat();
            }

            var filter = new SessionFilter(search, agent, group, connection, protocol, from, to, outcome, contains);
            List<Session> sessions;
            try
            {
                sessions = await integrity.ToExportAsync(filter, ct);
            }
            catch (ArgumentException e)
            {
                return Results.Problem(statusCode: 400, title: "Unknown filter value", detail: e.Message);
            }

            return Export(http, format, (writer, token) => integrity.ExportManyAsync(sessions, filter, format ?? "jsonl", Actor(http), writer, token));
        });
        read.MapGet("/sessions/{id:guid}/export", async (Guid id, string? format, IntegrityService integrity, ActivityQueries q, HttpContext http,
            CancellationToken ct) =>
            !KnownFormat(format) ? UnknownFormat()
            : await q.FindStoredSessionAsync(id, ct) is { } session
                ? Export(http, format, (writer, token) => integrity.ExportAsync(session, format ?? "jsonl", Actor(http), writer, token))
                : NotFound("session", id.ToString()));
        read.MapGet("/audit/export", (string? format, DateTime? from, IntegrityService integrity, HttpContext http) =>
            !KnownFormat(format) ? UnknownFormat() : Export(http, format, (writer, token) => integrity.ExportAuditAsync(format ?? "jsonl", from, Actor(http), writer, token)));
        read.MapGet("/search", async (string? q, int? limit, Hoop.Proxy.Recording.SearchIndex index, Hoop.Data.Audit.AuditLog audit, HttpContext http,
            CancellationToken ct) =>
        {
            if (string.IsNullOrWhiteSpace(q))
            {
                return Results.Problem(statusCode: 400, title: "Nothing to search for", detail: "Give the words to find: /api/v1/search?q=...");
            }

            var hits = await index.SearchAsync(q, limit ?? 100, ct);
            // Snippets of recorded content from any session: who searched for what is kept, like exports and replays.
            await audit.WriteAsync(Actor(http), "session.search", null, AuditOutcome.Success, new { q, hits = hits.Count }, ct);
            return Results.Ok(new { sessions = hits.Select(h => h.SessionId).Distinct(), events = hits });
        });
        read.MapPost("/audit/verify", async (IntegrityService integrity, HttpContext http, CancellationToken ct) =>
            Results.Ok(await integrity.VerifyAuditAsync(Actor(http), ct)));
        read.MapGet("/recording/public-key", async (IntegrityService integrity, CancellationToken ct) =>
            Results.Text(await integrity.PublicKeyPemAsync(ct), "application/x-pem-file"));

        // A session kept past retention (or released) is an admin's decision; it has no version: the last one stands.
        var admin = endpoints.MapGroup("/api/v1").RequireAuthorization(AdminApi.AdminPolicy).DisableAntiforgery().WithTags("admin");
        admin.MapPut("/sessions/{id:guid}/legal-hold", async (Guid id, LegalHoldInput input, IntegrityService integrity, HttpContext http, CancellationToken ct) =>
            await integrity.SetLegalHoldAsync(id, input.Hold, Actor(http), ct) ? Results.NoContent() : NotFound("session", id.ToString()));

    }

    private static bool KnownFormat(string? format) => format is null or "jsonl" or "csv";

    private static IResult UnknownFormat() => Results.Problem(statusCode: 400, title: "Unknown format", detail: "Use format=jsonl (the default) or format=csv.");

    /// <summary>An export written to the response as it is read from the store: a large one is never held in memory whole.</summary>
    private static IResult Export(HttpContext http, string? format, Func<TextWriter, CancellationToken, Task> write) =>
        Results.Stream(async stream =>
        {
            await using var writer = new StreamWriter(stream, new System.Text.UTF8Encoding(false), 64 * 1024);
            await write(writer, http.RequestAborted);
        }, format == "csv" ? "text/csv; charset=utf-8" : "application/jsonl; charset=utf-8");

    private static ProblemHttpResult NoSessions() =>
        TypedResults.Problem("Sessions are for auditors and admins; an admin has not let users see their own sessions.",
            statusCode: StatusCodes.Status403Forbidden, title: "Not allowed");

}

/// <summary>Body of PUT /api/v1/sessions/{id}/legal-hold.</summary>
public sealed record LegalHoldInput(bool Hold);
