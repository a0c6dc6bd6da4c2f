using System.Security.Claims;
using Hoop.Admin.Management;
using Hoop.Data.Entities;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hoop.Admin.Api;

/// <summary>
/// /api/v1 on the console port: the same operations as the console, through the same services, for automation.
/// JSON in camelCase, problem+json errors with a field-level "errors" map, ETag / If-Match on records.
/// </summary>
public static class AdminApi
{
    public const string AdminPolicy = "hoop-admin";

    public static IServiceCollection AddHoopAdminApi(this IServiceCollection services)
    {
        services.AddSingleton<ConnectionService>();
        services.AddSingleton<GroupService>();
        services.AddSingleton<ApiKeyService>();
        services.AddAuthentication().AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiAuthenticationHandler>(ApiAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder().AddPolicy(AdminPolicy, p => p
            .AddAuthenticationSchemes(ApiAuthenticationHandler.SchemeName)
            .RequireAuthenticatedUser()
            .RequireRole(nameof(Roles.Admin)));
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter()));
        return services;
    }

    public static void MapAdminApi(this IEndpointRouteBuilder endpoints)
    {
        var api = endpoints.MapGroup("/api/v1").RequireAuthorization(AdminPolicy).DisableAntiforgery();

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
            await s.GetAsync(name, ct) is { } view ? WithETag(http, view.Version, TypedResults.Ok(view)) : NotFound("group", name));
        groups.MapPost("/", async (GroupInput input, GroupService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(null, input, null, Actor(http), ct), v => v.Version, v => $"/api/v1/groups/{Uri.EscapeDataString(v.Name)}"));
        groups.MapPut("/{name}", async (string name, GroupInput input, GroupService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(name, input, IfMatch(http), Actor(http), ct), v => v.Version, notFound: ("group", name)));
        groups.MapDelete("/{name}", async (string name, GroupService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.DeleteAsync(name, Actor(http), ct), null, notFound: ("group", name)));

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
        ChangeStatus.Conflict => TypedResults.Problem("It exists already; nothing was saved.", statusCode: StatusCodes.Status409Conflict,
            title: "Conflict", extensions: new Dictionary<string, object?> { ["errors"] = result.Errors }),
        ChangeStatus.VersionMismatch => TypedResults.Problem("The record changed since you read it: read it again (for its new ETag) and reapply your change.",
            statusCode: StatusCodes.Status412PreconditionFailed, title: "Edited by someone else"),
        _ => NotFound(notFound?.Kind ?? "record", notFound?.Name ?? ""),
    };

    private static ProblemHttpResult NotFound(string kind, string name) =>
        TypedResults.Problem($"There is no {kind} named '{name}'.", statusCode: StatusCodes.Status404NotFound, title: "Not found");

    private static IResult WithETag(HttpContext http, string? version, IResult result)
    {
        if (version is not null)
        {
            http.Response.Headers.ETag = $"\"{version}\"";
        }

        return result;
    }

    private static string? IfMatch(HttpContext http)
    {
        var value = http.Request.Headers.IfMatch.ToString();
        return string.IsNullOrWhiteSpace(value) || value == "*" ? null : value.Replace("W/", "", StringComparison.Ordinal).Trim().Trim('"');
    }

    private static string Actor(HttpContext http) =>
        http.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? http.User.Identity?.Name ?? "unknown";
}
