using System.Security.Claims;
using Hoop.Admin.Management;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Hoop.Admin.Api;

/// <summary>How every area of the admin API answers: a change's result as HTTP, ETags out, If-Match in, the acting caller.</summary>
internal static class ApiResults
{
    /// <summary>A service's <see cref="ChangeResult{T}"/> as the API's answer, with the record's ETag when it has one.</summary>
    public static IResult Answer<T>(HttpContext http, ChangeResult<T> result, Func<T, string?>? version,
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

    public static ProblemHttpResult NotFound(string kind, string name) =>
        TypedResults.Problem($"There is no {kind} named '{name}'.", statusCode: StatusCodes.Status404NotFound, title: "Not found");

    public static IResult WithETag(HttpContext http, string? version, IResult result)
    {
        if (version is not null)
        {
            http.Response.Headers.ETag = $"\"{version}\"";
        }

        return result;
    }

    /// <summary>The version the caller read (If-Match), or null to change whatever is stored (no header, or <c>*</c>).</summary>
    public static string? IfMatch(HttpContext http)
    {
        var value = http.Request.Headers.IfMatch.ToString();
        return string.IsNullOrWhiteSpace(value) || value == "*" ? null : value.Replace("W/", "", StringComparison.Ordinal).Trim().Trim('"');
    }

    public static string Actor(HttpContext http) =>
        http.User.FindFirstValue(ClaimTypes.NameIdentifier) ?? http.User.Identity?.Name ?? "unknown";

    private static string? FirstError<T>(ChangeResult<T> result) => result.Errors?.Values.FirstOrDefault()?.FirstOrDefault();
}
