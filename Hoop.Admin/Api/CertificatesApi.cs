using Hoop.Admin.Management;
using Hoop.Proxy.Certificates.Acme;
using Hoop.Proxy.Policy;
using static Hoop.Admin.Api.ApiResults;

namespace Hoop.Admin.Api;

/// <summary>The inbound certificate: ACME status and history, an upload of one's own, "renew now".</summary>
internal static class CertificatesApi
{
    public static void MapCertificatesApi(this IEndpointRouteBuilder api)
    {
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

    }

    private static bool TryBase64(string text, out byte[]? bytes)
    {
        var buffer = new byte[text.Length];
        var ok = Convert.TryFromBase64String(text, buffer, out var written);
        bytes = ok ? buffer[..written] : null;
        return ok;
    }
}

/// <summary>An uploaded certificate: PEM certificate (chain after it) and PEM key, or a base64 PFX with its password.</summary>
public sealed record CertificateUpload(string? CertificatePem, string? PrivateKeyPem, string? PfxBase64, string? Password);

/// <summary>GET /api/v1/certificates: the ACME status and the history, newest first.</summary>
public sealed record CertificatesView(DateTimeOffset? LastAttempt, DateTimeOffset? LastSuccess, DateTimeOffset? NextAttempt, string? LastError,
    bool Expiring, List<CertificateView> History);
