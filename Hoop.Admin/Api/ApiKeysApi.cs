using Hoop.Admin.Management;
using static Hoop.Admin.Api.ApiResults;

namespace Hoop.Admin.Api;

/// <summary>
/// API keys: created (the key shown once) and revoked. A key never changes after it is made, so it carries no
/// version: revoking is the only change, and revoking twice answers 404.
/// </summary>
internal static class ApiKeysApi
{
    public static void MapApiKeysApi(this IEndpointRouteBuilder api)
    {
        var keys = api.MapGroup("/api-keys");
        keys.MapGet("/", (ApiKeyService s, CancellationToken ct) => s.ListAsync(ct));
        keys.MapPost("/", async (ApiKeyInput input, ApiKeyService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.CreateAsync(input, Actor(http), ct), null, v => $"/api/v1/api-keys/{Uri.EscapeDataString(v.ApiKey.Name)}"));
        keys.MapDelete("/{name}", async (string name, ApiKeyService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.RevokeAsync(name, Actor(http), ct), null, notFound: ("API key", name)));
    }
}
