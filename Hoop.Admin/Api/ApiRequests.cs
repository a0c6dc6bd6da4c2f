using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Net.Http.Headers;

namespace Hoop.Admin.Api;

/// <summary>
/// What the admin API refuses before an operation runs, always as problem+json: a body that is not JSON (415;
/// routing would otherwise fall through to the console's sign-in redirect), a body over
/// <see cref="MaxBodyBytes"/> (413), and JSON that does not bind to the operation's input (400, with the
/// field in the errors map: a wrong type, an enum given as a number or an unknown name).
/// </summary>
public static class ApiRequests
{
    /// <summary>The largest body the API reads: every input is a few fields; a certificate chain or a CA bundle fits many times over.</summary>
    public const long MaxBodyBytes = 1024 * 1024;

    /// <summary>
    /// Runs on the console port's pipeline before routing and authentication. Route handlers throw on a request
    /// they cannot bind (<see cref="RouteHandlerOptions.ThrowOnBadRequest"/>); this answers it with its status
    /// code, on any path, so no bad request ever reaches the exception handler's 500.
    /// </summary>
    public static IApplicationBuilder UseAdminApiRequests(this IApplicationBuilder app) => app.Use(GuardAsync);

    private static async Task GuardAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        var api = request.Path.StartsWithSegments("/api", StringComparison.Ordinal);
        if (api && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        var hasBody = (HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method))
            && (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0 || request.ContentType is not null);
        if (api && hasBody && !IsJson(request.ContentType))
        {
            // Who is refused is told only after they are known, as for every other API answer.
            if (!(await context.AuthenticateAsync(ApiAuthenticationHandler.SchemeName)).Succeeded)
            {
                await context.ChallengeAsync(ApiAuthenticationHandler.SchemeName);
                return;
            }

            await TypedResults.Problem($"The admin API reads JSON; this request's content type is '{request.ContentType ?? "(none)"}'. Send Content-Type: application/json.",
                statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported content type").ExecuteAsync(context);
            return;
        }

        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            context.Response.Clear();
            if (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                await TypedResults.Problem($"The body is larger than {MaxBodyBytes / 1024:N0} KiB; nothing was saved.", statusCode: e.StatusCode,
                    title: "Body too large").ExecuteAsync(context);
                return;
            }

            var (field, message) = Describe(e, context.GetEndpoint());
            await TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] },
                title: "The request has invalid fields; nothing was saved.").ExecuteAsync(context);
        }
    }

    private static bool IsJson(string? contentType) =>
        MediaTypeHeaderValue.TryParse(contentType, out var type)
        && (type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || type.MediaType.Value?.EndsWith("+json", StringComparison.OrdinalIgnoreCase) == true)
        && (!type.Charset.HasValue || type.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase));

    /// <summary>The field a body could not be bound at (from the JSON path), and what it takes.</summary>
    private static (string Field, string Message) Describe(BadHttpRequestException e, Endpoint? endpoint)
    {
        if (e.InnerException is not JsonException json)
        {
            return ("body", "Send the operation's input as one JSON object.");
        }

        // The reader's own exception inside means the text is not JSON at all, wherever it broke off.
        if (json.InnerException?.GetType().Name == "JsonReaderException")
        {
            return ("body", $"This is not valid JSON (line {json.LineNumber + 1}, byte {json.BytePositionInLine + 1}).");
        }

        var path = json.Path is { Length: > 1 } p ? p.TrimStart('$').TrimStart('.') : "";
        if (path.Length == 0)
        {
            return ("body", json.LineNumber is null ? "Send the operation's input as one JSON object." : "This is not valid JSON.");
        }

        var type = FieldType(endpoint?.Metadata.GetMetadata<IAcceptsMetadata>()?.RequestType, path);
        var message = type is { IsEnum: true }
            ? $"Use one of {string.Join(", ", Enum.GetNames(type))}, by name."
            : type is null ? "This value cannot be read here." : $"This value cannot be read as {Describe(type)}.";
        return (path, message);
    }

    /// <summary>The type of the property at a JSON path such as credential.kind or roles[0], from the operation's input type.</summary>
    private static Type? FieldType(Type? root, string path)
    {
        var type = root;
        foreach (var segment in path.Split('.'))
        {
            if (type is null)
            {
                return null;
            }

            var name = segment.Split('[')[0];
            var property = type.GetProperty(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            type = property is null ? null : Element(property.PropertyType, indexed: segment.Contains('[', StringComparison.Ordinal));
        }

        return type;
    }

    private static Type Element(Type type, bool indexed)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (indexed && type != typeof(string) && type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>)) is { } list)
        {
            type = list.GetGenericArguments()[0];
            type = Nullable.GetUnderlyingType(type) ?? type;
        }

        return type;
    }

    private static string Describe(Type type) => type switch
    {
        _ when type == typeof(string) => "text",
        _ when type == typeof(bool) => "true or false",
        _ when type == typeof(int) || type == typeof(long) => "a whole number",
        _ when type == typeof(DateTime) || type == typeof(DateTimeOffset) => "an ISO 8601 date and time",
        _ when type == typeof(Guid) => "a GUID",
        _ when type != typeof(string) && typeof(System.Collections.IEnumerable).IsAssignableFrom(type) => "a list",
        _ => "an object with the documented fields",
    };
}
