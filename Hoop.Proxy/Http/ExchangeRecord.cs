using Hoop.Data.Entities;
using Hoop.Data.Records;
using Hoop.Proxy.Credentials;
using Hoop.Proxy.Guardrails;
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
        var record = new HttpExchangeRecord
        {
            Request = new HttpRequestRecord(request.Method, (request.PathBase + request.Path).Value, masking.RecordedQuery(request.QueryString, masking.Counts),
                request.Protocol, Headers(request.Headers, secrets), masking.RecordedRequestBody(outcome.RequestBody, request, secrets)),
            Response = new HttpResponseRecord(response.StatusCode, Headers(response.Headers, secrets),
                masking.RecordedResponseBody(outcome.Error is null ? exchange.Response?.Body : null, exchange.Response?.MaxBytes ?? 0, response, secrets)),
            Upgrade = outcome.Upgrade,
            Error = outcome.Error,
            SecretReflected = outcome.Reflected.Count == 0 ? null : outcome.Reflected,
            ApprovedBy = exchange.ApprovedBy.Count == 0 ? null : exchange.ApprovedBy,
            Masked = masking.Counts.Total == 0 ? null : masking.Counts.ByDetector,
            MaskingSkipped = masking.Skipped,
            Tls = new TlsRecord(context.Features.Get<ITlsHandshakeFeature>() is { } tls ? $"{tls.Protocol} {tls.NegotiatedCipherSuite}" : null,
                connection.Address.Scheme == Uri.UriSchemeHttps ? upstream.Negotiated : "none (plain http, set by an admin)",
                connection.TlsVerification.ToString()),
            DurationMs = outcome.Elapsed.TotalMilliseconds,
        };
        session.AddMasked(masking.Counts);
        return new SessionEvent
        {
            SessionId = session.Id,
            Sequence = session.NextSequence(),
            At = outcome.At,
            Kind = outcome.Upgrade ? EventKinds.HttpUpgrade : exchange.Stop.EventKind(EventKinds.Http),
            Summary = $"{request.Method} {request.Path}{(request.QueryString.HasValue ? "?…" : "")} {response.StatusCode}",
            Content = RecordJson.Write(record),
            DurationMicroseconds = (long)(outcome.Elapsed.TotalMilliseconds * 1000),
            Marks = (masking.Counts.Total == 0 ? EventMarks.None : EventMarks.Masked)
                | (exchange.Stop is null && (outcome.Error is not null || response.StatusCode >= 500) ? EventMarks.Error : EventMarks.None)
                | (exchange.ApprovedBy.Count == 0 ? EventMarks.None : EventMarks.Approved)
                | exchange.Stop.Marks(),
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
}
