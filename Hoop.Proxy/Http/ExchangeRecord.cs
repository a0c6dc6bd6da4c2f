using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Proxy.Credentials;
using Hoop.Proxy.Recording;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Hoop.Proxy.Http;

/// <summary>
/// The session event one HTTP exchange leaves: request and response as the recording keeps them (agent
/// credentials removed, the stored secret scrubbed, bodies masked by the recording's rules), what stopped or let
/// it through, what was masked, and the TLS on both sides.
/// </summary>
internal static class ExchangeRecord
{
    /// <summary>The exchange's event, next in its session.</summary>
    public static SessionEvent Compose(HttpExchange exchange, HttpContext context, LiveSession session, ExchangeOutcome outcome, UpstreamTls upstream)
    {
        var connection = exchange.Connection;
        var request = context.Request;
        var response = context.Response;
        var secrets = connection.Secrets;
        var masking = exchange.Masking;
        var content = new
        {
            request = new
            {
                method = request.Method,
                path = (request.PathBase + request.Path).Value,
                query = masking.RecordedQuery(request.QueryString, masking.Counts),
                protocol = request.Protocol,
                headers = Headers(request.Headers, secrets),
                body = masking.RecordedRequestBody(outcome.RequestBody, request, secrets),
            },
            response = new
            {
                status = response.StatusCode,
                headers = Headers(response.Headers, secrets),
                body = masking.RecordedResponseBody(outcome.Error is null ? exchange.Response?.Body : null, exchange.Response?.MaxBytes ?? 0, response, secrets),
            },
            upgrade = outcome.Upgrade,
            error = outcome.Error,
            secretReflected = outcome.Reflected.Count == 0 ? null : outcome.Reflected,
            approvedBy = exchange.ApprovedBy.Count == 0 ? null : exchange.ApprovedBy,
            masked = masking.Counts.Total == 0 ? null : masking.Counts.ByDetector,
            maskingSkipped = masking.Skipped,
            tls = new
            {
                inbound = context.Features.Get<ITlsHandshakeFeature>() is { } tls ? $"{tls.Protocol} {tls.NegotiatedCipherSuite}" : null,
                upstream = connection.Address.Scheme == Uri.UriSchemeHttps ? upstream.Negotiated : "none (plain http, set by an admin)",
                verification = connection.TlsVerification.ToString(),
            },
            durationMs = outcome.Elapsed.TotalMilliseconds,
        };
        session.AddMasked(masking.Counts);
        return new SessionEvent
        {
            SessionId = session.Id,
            Sequence = session.NextSequence(),
            At = outcome.At,
            Kind = outcome.Upgrade ? "http-upgrade" : exchange.Verdict is { } verdict ? $"http-{verdict}" : "http",
            Summary = $"{request.Method} {request.Path}{(request.QueryString.HasValue ? "?…" : "")} {response.StatusCode}",
            Content = JsonSerializer.Serialize(content, JsonOptions),
            DurationMicroseconds = (long)(outcome.Elapsed.TotalMilliseconds * 1000),
            Marks = (masking.Counts.Total == 0 ? EventMarks.None : EventMarks.Masked)
                | (exchange.Verdict is null && (outcome.Error is not null || response.StatusCode >= 500) ? EventMarks.Error : EventMarks.None)
                | (exchange.ApprovedBy.Count == 0 ? EventMarks.None : EventMarks.Approved),
        };
    }

    /// <summary>Recorded headers: what authenticates anyone is left out; the stored secret never appears.</summary>
    private static Dictionary<string, string> Headers(IHeaderDictionary headers, SecretScrubber secrets)
    {
        var recorded = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in headers)
        {
            if (name.Equals("Set-Cookie", StringComparison.OrdinalIgnoreCase)
                || BackendTransformer.AgentCredentials.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                recorded[name] = "[removed]";
                continue;
            }

            recorded[name] = secrets.Scrub(values.ToString(), out _);
        }

        return recorded;
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
