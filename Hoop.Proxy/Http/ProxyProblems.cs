using Microsoft.AspNetCore.Http;

namespace Hoop.Proxy.Http;

/// <summary>The proxy port's errors: application/problem+json with a reason an agent can act on.</summary>
internal static class ProxyProblems
{
    public static Task WriteAsync(HttpContext context, int status, string title, string detail, string? connection = null,
        Dictionary<string, object?>? extra = null)
    {
        var extensions = extra ?? [];
        if (connection is not null)
        {
            extensions["connection"] = connection;
        }

        return TypedResults.Problem(detail, statusCode: status, title: title, extensions: extensions).ExecuteAsync(context);
    }

    public static Task UnknownConnectionAsync(HttpContext context) =>
        WriteAsync(context, StatusCodes.Status404NotFound, "Unknown connection",
            $"No connection matches host '{context.Request.Host.Host}' and path '{context.Request.Path}'. Reach a connection as https://<connection>.<hoop host>/... or https://<hoop host>/<connection>/....");
}
