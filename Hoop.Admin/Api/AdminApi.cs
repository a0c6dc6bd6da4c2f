using System.Security.Claims;
using Hoop.Admin.Management;
using Hoop.Data.Entities;
using Hoop.Proxy.Certificates.Acme;
using Hoop.Proxy.Policy;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hoop.Admin.Api;

/// <summary>
/// /api/v1 on the console port: the same operations as the console, through the same services, for automation.
/// JSON in camelCase, problem+json errors with a field-level "errors" map, ETag / If-Match on records.
/// </summary>
/// <summary>An uploaded certificate: PEM certificate (chain after it) and PEM key, or a base64 PFX with its password.</summary>
public sealed record CertificateUpload(string? CertificatePem, string? PrivateKeyPem, string? PfxBase64, string? Password);

/// <summary>GET /api/v1/certificates: the ACME status and the history, newest first.</summary>
public sealed record CertificatesView(DateTimeOffset? LastAttempt, DateTimeOffset? LastSuccess, DateTimeOffset? NextAttempt, string? LastError,
    bool Expiring, List<CertificateView> History);

public static class AdminApi
{
    public const string AdminPolicy = "hoop-admin";
    public const string AuditorPolicy = "hoop-auditor";
    public const string ReviewerPolicy = "hoop-reviewer";
    public const string SignedInPolicy = "hoop-signed-in";

    public static IServiceCollection AddHoopAdminApi(this IServiceCollection services)
    {
        services.AddSingleton<ConnectionService>();
        services.AddSingleton<GroupService>();
        services.AddSingleton<ApiKeyService>();
        services.AddSingleton<IssuerService>();
        services.AddSingleton<ConnectionTester>();
        services.AddSingleton<ActivityQueries>();
        services.AddSingleton<RecordingSettingsService>();
        services.AddSingleton<IntegrityService>();
        services.AddSingleton<CertificateSettingsService>();
        services.AddSingleton<MaskingRuleService>();
        services.AddSingleton<GuardrailRuleService>();
        services.AddSingleton<ReviewService>();
        services.AddSingleton<CertificateService>();
        services.AddAuthentication().AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiAuthenticationHandler>(ApiAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder().AddPolicy(AdminPolicy, p => p
            .AddAuthenticationSchemes(ApiAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser()
            .RequireRole(nameof(Roles.Admin)))
            .AddPolicy(AuditorPolicy, p => p
            .AddAuthenticationSchemes(ApiAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser()
            .RequireRole(nameof(Roles.Admin), nameof(Roles.Auditor)))
            .AddPolicy(SignedInPolicy, p => p
            .AddAuthenticationSchemes(ApiAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser())
            .AddPolicy(ReviewerPolicy, p => p
            .AddAuthenticationSchemes(ApiAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser()
            .RequireRole(nameof(Roles.Admin), nameof(Roles.Reviewer)));
        services.AddOpenApi("v1", o =>
        {
            o.ShouldInclude = d => d.RelativePath?.StartsWith("api/v1/", StringComparison.Ordinal) == true;
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "Hoop admin API";
                document.Info.Description = "The console's operations for automation. Authenticate with 'Authorization: Bearer <OIDC access token or Hoop API key>' of a caller whose groups carry the admin role.";
                return Task.CompletedTask;
            });
        });
        // Enums by name only: a number (even out of range) or a combination of names would otherwise be stored as it came.
        services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.Converters.Add(new EnumNames());
            o.SerializerOptions.Converters.Add(new UtcTimes());
        });
        // A body that does not bind throws, so ApiRequests answers it as problem+json naming the field.
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return services;
    }

    public static void MapAdminApi(this IEndpointRouteBuilder endpoints)
    {
        // The API's description is public: it holds no data, and automation reads it before it has a key.
        endpoints.MapOpenApi("/api/{documentName}/openapi.json").AllowAnonymous();
        // What happened is for auditors too; everything that changes something is for admins only.
        // Sessions are listed for auditors and admins, and for anyone else their own when an admin allows it.
        var sessions = endpoints.MapGroup("/api/v1/sessions").RequireAuthorization(SignedInPolicy).DisableAntiforgery().WithTags("activity");
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

        var read = endpoints.MapGroup("/api/v1").RequireAuthorization(AuditorPolicy).DisableAntiforgery().WithTags("activity");
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

        // Reviews: listed for reviewers and admins; decided by reviewers only (the service checks role, group and self).
        var reviews = endpoints.MapGroup("/api/v1/reviews").RequireAuthorization(ReviewerPolicy).DisableAntiforgery().WithTags("reviews");
        reviews.MapGet("/", (ReviewService s, ReviewStatus? status, int? limit, CancellationToken ct) => s.ListAsync(status, limit ?? 100, ct));
        reviews.MapGet("/{id:guid}", async (Guid id, ReviewService s, CancellationToken ct) =>
            await s.GetAsync(id, ct) is { } found ? Results.Ok(found) : NotFound("review", id.ToString()));
        reviews.MapPost("/{id:guid}/decision", async (Guid id, ReviewDecisionInput input, ReviewService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.DecideAsync(id, input, http.User, ct), v => v.Version, notFound: ("review", id.ToString())));

        var api = endpoints.MapGroup("/api/v1").RequireAuthorization(AdminPolicy).DisableAntiforgery().WithTags("admin");

        api.MapPut("/sessions/{id:guid}/legal-hold", async (Guid id, LegalHoldInput input, IntegrityService integrity, HttpContext http, CancellationToken ct) =>
            await integrity.SetLegalHoldAsync(id, input.Hold, Actor(http), ct) ? Results.NoContent() : NotFound("session", id.ToString()));

        var connections = api.MapGroup("/connections");
        connections.MapGet("/", (ConnectionService s, CancellationToken ct) => s.ListAsync(ct));
        connections.MapGet("/{name}", async (string name, ConnectionService s, HttpContext http, CancellationToken ct) =>
            await s.GetAsync(name, ct) is { } view ? WithETag(http, view.Version, TypedResults.Ok(view)) : NotFound("connection", name));
        connections.MapPost("/", async (ConnectionInput input, ConnectionService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.CreateAsync(input, Actor(http), ct), v => v.Version, v => $"/api/v1/connections/{v.Name}"));
        connections.MapPut("/{name}", async (string name, ConnectionInput input, ConnectionService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.UpdateAsync(name, input, IfMatch(http), Actor(http), ct), v => v.Version, notFound: ("connection", name)));
        connections.MapDelete("/{name}", async (string name, ConnectionService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.DeleteAsync(name, IfMatch(http), Actor(http), ct), null, notFound: ("connection", name)));

        var groups = api.MapGroup("/groups");
        groups.MapGet("/", (GroupService s, CancellationToken ct) => s.ListAsync(ct));
        groups.MapGet("/{name}", async (string name, GroupService s, HttpContext http, CancellationToken ct) =>
            await s.GetAsync(GroupName(name), ct) is { } view ? WithETag(http, view.Version, TypedResults.Ok(view)) : NotFound("group", name));
        groups.MapPost("/", async (GroupInput input, GroupService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(null, input, null, Actor(http), ct), v => v.Version, v => $"/api/v1/groups/{Uri.EscapeDataString(v.Name)}"));
        groups.MapPut("/{name}", async (string name, GroupInput input, GroupService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(GroupName(name), input, IfMatch(http), Actor(http), ct), v => v.Version, notFound: ("group", GroupName(name))));
        groups.MapDelete("/{name}", async (string name, GroupService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.DeleteAsync(GroupName(name), Actor(http), ct), null, notFound: ("group", GroupName(name))));

        var masking = api.MapGroup("/masking-rules");
        masking.MapGet("/", (MaskingRuleService s, CancellationToken ct) => s.ListAsync(ct));
        masking.MapGet("/{name}", async (string name, MaskingRuleService s, HttpContext http, CancellationToken ct) =>
            await s.GetAsync(name, ct) is { } view ? WithETag(http, view.Version, TypedResults.Ok(view)) : NotFound("masking rule", name));
        masking.MapPost("/", async (MaskingRuleInput input, MaskingRuleService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(null, input, null, Actor(http), ct), v => v.Version, v => $"/api/v1/masking-rules/{Uri.EscapeDataString(v.Name)}"));
        masking.MapPut("/{name}", async (string name, MaskingRuleInput input, MaskingRuleService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(name, input, IfMatch(http), Actor(http), ct), v => v.Version, notFound: ("masking rule", name)));
        masking.MapDelete("/{name}", async (string name, MaskingRuleService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.DeleteAsync(name, Actor(http), ct), null, notFound: ("masking rule", name)));
        api.MapPost("/masking/test", (MaskingTestInput input, MaskingRuleService s, HttpContext http) => Answer(http, s.Test(input), null));

        var guardrails = api.MapGroup("/guardrail-rules");
        guardrails.MapGet("/", (GuardrailRuleService s, CancellationToken ct) => s.ListAsync(ct));
        guardrails.MapGet("/{name}", async (string name, GuardrailRuleService s, HttpContext http, CancellationToken ct) =>
            await s.GetAsync(name, ct) is { } view ? WithETag(http, view.Version, TypedResults.Ok(view)) : NotFound("guardrail rule", name));
        guardrails.MapPost("/", async (GuardrailRuleInput input, GuardrailRuleService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(null, input, null, Actor(http), ct), v => v.Version, v => $"/api/v1/guardrail-rules/{Uri.EscapeDataString(v.Name)}"));
        guardrails.MapPut("/{name}", async (string name, GuardrailRuleInput input, GuardrailRuleService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(name, input, IfMatch(http), Actor(http), ct), v => v.Version, notFound: ("guardrail rule", name)));
        guardrails.MapDelete("/{name}", async (string name, GuardrailRuleService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.DeleteAsync(name, Actor(http), ct), null, notFound: ("guardrail rule", name)));

        var issuers = api.MapGroup("/issuers");
        issuers.MapGet("/", (IssuerService s, CancellationToken ct) => s.ListAsync(ct));
        issuers.MapGet("/{id:guid}", async (Guid id, IssuerService s, HttpContext http, CancellationToken ct) =>
            await s.GetAsync(id, ct) is { } view ? WithETag(http, view.Version, TypedResults.Ok(view)) : NotFound("issuer", id.ToString()));
        issuers.MapPost("/", async (IssuerInput input, IssuerService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(null, input, null, Actor(http), ct), v => v.Version!, v => $"/api/v1/issuers/{v.Id}"));
        issuers.MapPut("/{id:guid}", async (Guid id, IssuerInput input, IssuerService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(id, input, IfMatch(http), Actor(http), ct), v => v.Version!, notFound: ("issuer", id.ToString())));
        issuers.MapDelete("/{id:guid}", async (Guid id, IssuerService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.DeleteAsync(id, Actor(http), ct), null, notFound: ("issuer", id.ToString())));

        api.MapGet("/settings/recording", (RecordingSettingsService s, CancellationToken ct) => s.GetAsync(ct));
        api.MapPut("/settings/recording", async (RecordingSettingsInput input, RecordingSettingsService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(input, Actor(http), ct), null));

        api.MapGet("/settings/certificates", (CertificateSettingsService s, CancellationToken ct) => s.GetAsync(ct));
        api.MapPut("/settings/certificates", async (CertificateSettingsInput input, CertificateSettingsService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(input, Actor(http), ct), null));

        var certificates = api.MapGroup("/certificates");
        certificates.MapGet("/", async (CertificateService s, CertificateStatus status, CancellationToken ct) =>
            new CertificatesView(status.LastAttempt, status.LastSuccess, status.NextAttempt, status.LastError, status.Expiring, await s.HistoryAsync(ct)));
        certificates.MapPost("/", async (CertificateUpload upload, CertificateService s, HttpContext http, CancellationToken ct) =>
        {
            byte[]? pfx = null;
            if (upload.PfxBase64 is { } text && !TryBase64(text, out pfx))
            {
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["pfxBase64"] = ["That is not base64."] },
                    title: "The request has invalid fields; nothing was saved.");
            }

            return Answer(http, pfx is not null
                ? await s.UploadPfxAsync(pfx, upload.Password, Actor(http), ct)
                : await s.UploadPemAsync(upload.CertificatePem, upload.PrivateKeyPem, Actor(http), ct), null, v => $"/api/v1/certificates/{v.Id}");
        });
        certificates.MapPost("/renew", (CertificateRenewal renewal, PolicyStore policy) =>
        {
            if (!policy.Current.Certificates.Acme.Enabled)
            {
                return TypedResults.Problem("ACME is not configured: set a directory URL in /api/v1/settings/certificates (or Hoop:Acme:DirectoryUrl).",
                    statusCode: StatusCodes.Status409Conflict, title: "No ACME");
            }

            renewal.RenewNow();
            return Results.Accepted();
        });

        var keys = api.MapGroup("/api-keys");
        keys.MapGet("/", (ApiKeyService s, CancellationToken ct) => s.ListAsync(ct));
        keys.MapPost("/", async (ApiKeyInput input, ApiKeyService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.CreateAsync(input, Actor(http), ct), null, v => $"/api/v1/api-keys/{Uri.EscapeDataString(v.ApiKey.Name)}"));
        keys.MapDelete("/{name}", async (string name, ApiKeyService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.RevokeAsync(name, Actor(http), ct), null, notFound: ("API key", name)));
    }

    private static IResult Answer<T>(HttpContext http, ChangeResult<T> result, Func<T, string>? version,
        Func<T, string>? location = null, (string Kind, string Name)? notFound = null) => result.Status switch
    {
        ChangeStatus.Created => WithETag(http, version?.Invoke(result.Value!), TypedResults.Created(location?.Invoke(result.Value!), result.Value)),
        ChangeStatus.Ok when result.Value is null => TypedResults.NoContent(),
        ChangeStatus.Ok => WithETag(http, version?.Invoke(result.Value!), TypedResults.Ok(result.Value)),
        ChangeStatus.Invalid => TypedResults.ValidationProblem(result.Errors!, title: "The request has invalid fields; nothing was saved."),
        ChangeStatus.Conflict => TypedResults.Problem(FirstError(result) ?? "It exists already; nothing was saved.", statusCode: StatusCodes.Status409Conflict,
            title: "Conflict", extensions: new Dictionary<string, object?> { ["errors"] = result.Errors }),
        ChangeStatus.Forbidden => TypedResults.Problem(FirstError(result) ?? "Not allowed.", statusCode: StatusCodes.Status403Forbidden, title: "Not allowed"),
        ChangeStatus.VersionMismatch => TypedResults.Problem("The record changed since you read it: read it again (for its new ETag) and reapply your change.",
            statusCode: StatusCodes.Status412PreconditionFailed, title: "Edited by someone else"),
        _ => NotFound(notFound?.Kind ?? "record", notFound?.Name ?? ""),
    };

    /// <summary>
    /// A group's name from its path segment. Group names are the identity provider's, and some hold '/' (group
    /// paths such as /team/ops): the client sends it as %2F, which the server leaves encoded in the path.
    /// </summary>
    private static string GroupName(string segment) => segment.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    private static ProblemHttpResult NotFound(string kind, string name) =>
        TypedResults.Problem($"There is no {kind} named '{name}'.", statusCode: StatusCodes.Status404NotFound, title: "Not found");

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

    private static IResult WithETag(HttpContext http, string? version, IResult result)
    {
        if (version is not null)
        {
            http.Response.Headers.ETag = $"\"{version}\"";
        }

        return result;
    }

    private static bool TryBase64(string text, out byte[]? bytes)
    {
        var buffer = new byte[text.Length];
        var ok = Convert.TryFromBase64String(text, buffer, out var written);
        bytes = ok ? buffer[..written] : null;
        return ok;
    }

    private static string? IfMatch(HttpContext http)
    {
        var value = http.Request.Headers.IfMatch.ToString();
        return string.IsNullOrWhiteSpace(value) || value == "*" ? null : value.Replace("W/", "", StringComparison.Ordinal).Trim().Trim('"');
    }

    private static string? FirstError<T>(ChangeResult<T> result) => result.Errors?.Values.FirstOrDefault()?.FirstOrDefault();

    private static string Actor(HttpContext http) =>
        http.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? http.User.Identity?.Name ?? "unknown";
}

/// <summary>Body of PUT /api/v1/sessions/{id}/legal-hold.</summary>
public sealed record LegalHoldInput(bool Hold);
