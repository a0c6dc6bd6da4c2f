using Hoop.Admin.Management;
using static Hoop.Admin.Api.ApiResults;

namespace Hoop.Admin.Api;

/// <summary>
/// The five routes of every kind of record (<see cref="IRecordService{TInput, TView}"/>), with one set of semantics:
/// GET lists; GET /{key} answers with an ETag; POST answers 201 with Location and ETag; PUT and DELETE honour If-Match
/// (412 when the record changed since it was read; no If-Match changes whatever is stored); 404 names the kind.
/// </summary>
internal static class RecordsApi
{
    /// <param name="api">The group the routes go under.</param>
    /// <param name="path">The records' path, such as /connections.</param>
    /// <param name="key">The key's name in the routes and the API's description: name, or id.</param>
    public static void MapRecords<TService, TInput, TView>(this IEndpointRouteBuilder api, string path, string key = "name")
        where TService : IRecordService<TInput, TView>
        where TInput : class // A body of JSON null is then refused with 400, not handed to the service.
    {
        var records = api.MapGroup(path);
        var one = $"/{{{key}}}";
        string Key(HttpContext http) => FromSegment((string)http.GetRouteValue(key)!);
        // Handed over as Delegate: ASP.NET Core's route handler analyzer fails on a handler whose parameter is a type
        // parameter (TInput); the handlers are bound at run time as any other.
        Delegate list = (TService s, CancellationToken ct) => s.ListAsync(ct);
        Delegate get = async (TService s, HttpContext http, CancellationToken ct) =>
            await s.GetAsync(Key(http), ct) is { } view ? WithETag(http, s.VersionOf(view), TypedResults.Ok(view)) : NotFound(s.Kind, Key(http));
        Delegate create = async (TInput input, TService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.CreateAsync(input, Actor(http), ct), s.VersionOf, v => $"/api/v1{path}/{Uri.EscapeDataString(s.KeyOf(v))}");
        Delegate update = async (TInput input, TService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.UpdateAsync(Key(http), input, IfMatch(http), Actor(http), ct), s.VersionOf, notFound: (s.Kind, Key(http)));
        Delegate delete = async (TService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.DeleteAsync(Key(http), IfMatch(http), Actor(http), ct), null, notFound: (s.Kind, Key(http)));
        records.MapGet("/", list);
        records.MapGet(one, get);
        records.MapPost("/", create);
        records.MapPut(one, update);
        records.MapDelete(one, delete);
    }

    /// <summary>
    /// A key from its path segment. Group names are the identity provider's, and some hold '/' (group paths such as
    /// /team/ops): the client sends it as %2F, which the server leaves encoded in the path.
    /// </summary>
    private static string FromSegment(string segment) => segment.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);
}
