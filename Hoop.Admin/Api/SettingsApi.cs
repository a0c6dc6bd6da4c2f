using Hoop.Admin.Management;
using static Hoop.Admin.Api.ApiResults;

namespace Hoop.Admin.Api;

/// <summary>
/// Settings an admin changes while Hoop runs: recording, and host names with ACME. GET answers with an ETag (the
/// saved row's version, or "configured" while appsettings.json's apply); PUT honours If-Match, 412 when someone
/// saved in between.
/// </summary>
internal static class SettingsApi
{
    public static void MapSettingsApi(this IEndpointRouteBuilder api)
    {
        api.MapGet("/settings/recording", async (RecordingSettingsService s, HttpContext http, CancellationToken ct) =>
        {
            var view = await s.GetAsync(ct);
            return WithETag(http, view.Version, TypedResults.Ok(view));
        });
        api.MapPut("/settings/recording", async (RecordingSettingsInput input, RecordingSettingsService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(input, IfMatch(http), Actor(http), ct), v => v.Version));

        api.MapGet("/settings/certificates", async (CertificateSettingsService s, HttpContext http, CancellationToken ct) =>
        {
            var view = await s.GetAsync(ct);
            return WithETag(http, view.Version, TypedResults.Ok(view));
        });
        api.MapPut("/settings/certificates", async (CertificateSettingsInput input, CertificateSettingsService s, HttpContext http, CancellationToken ct) =>
            Answer(http, await s.SaveAsync(input, IfMatch(http), Actor(http), ct), v => v.Version));
    }
}
