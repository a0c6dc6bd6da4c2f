using Hoop.Proxy.Model;
using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using System.Text.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Proxy.Admission;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Recording;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Proxy.Http;

/// <summary>
/// The proxy port's checks, in order, before YARP forwards: who is calling (token or API key), may they use this
/// connection, can the exchange be recorded, do the guardrails let it through (<see cref="GuardrailCheck"/>);
/// then the request body is masked (<see cref="HttpMasking"/>). After forwarding: backend errors become
/// problem+json, and the exchange is recorded, masked, as a session event. Every refusal is audited.
/// </summary>
internal sealed partial class ProxyGate(
    PolicyStore policy,
    Callers callers,
    Admissions admissions,
    Recorder recorder,
    UpstreamClientFactory upstream,
    MaskingOptions masking,
    GuardrailCheck guardrails,
    AuditLog audit,
    ProxyOptions options,
    TimeProvider time,
    ILogger<ProxyGate> logger)
{
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var snapshot = policy.Current;
        var name = context.GetReverseProxyFeature().Route.Config.Metadata?.GetValueOrDefault(ProxyConfigProvider.Metadata.Connection);
        snapshot.Connections.TryGetValue(name ?? "", out var known);
        if (await IdentifyOrRefuseAsync(context, snapshot, known?.Name ?? name) is not { } caller)
        {
            return;
        }

        if (known is not { } connection)
        {
            await ProxyProblems.UnknownConnectionAsync(context);
            return;
        }

        // YARP applies a new configuration a moment after the snapshot swaps: never send one version's
        // credential to another version's address.
        if (context.GetReverseProxyFeature().Cluster.Config.Metadata?.GetValueOrDefault(ProxyConfigProvider.Metadata.Version) != connection.Version)
        {
            context.Response.Headers.RetryAfter = "1";
            await ProxyProblems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "Connection changing",
                $"Connection '{connection.Name}' was changed a moment ago and is being applied. Try again.", connection.Name);
            return;
        }

        var (session, refusal) = await admissions.AdmitAsync("proxy", caller, connection, snapshot, Client(context), ownSession: false, context.RequestAborted);
        if (refusal is not null)
        {
            if (refusal.Kind == RefusalKind.RecordingUnavailable)
            {
                context.Response.Headers.RetryAfter = "5";
            }

            await ProxyProblems.WriteAsync(context, refusal.Kind == RefusalKind.Forbidden ? StatusCodes.Status403Forbidden : StatusCodes.Status503ServiceUnavailable,
                refusal.Kind == RefusalKind.Forbidden ? "Not allowed" : "Recording unavailable", refusal.Reason, connection.Name);
            return;
        }

        // Kestrel's 30 MB default suits the console; an authorized agent's upload streams through unbounded.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
        {
            bodyLimit.MaxRequestBodySize = null;
        }

        var upgrade = context.Features.Get<IHttpUpgradeFeature>()?.IsUpgradableRequest == true
            || context.Features.Get<IHttpExtendedConnectFeature>()?.IsExtendedConnect == true;
        var call = new ProxyCall(caller, connection, session)
        {
            Response = upgrade ? null : new ResponseCapture(snapshot.Recording.MaxBodyBytes),
            Masking = new HttpMasking(snapshot.MaskersFor(caller, connection), masking),
        };
        context.Features.Set(call);
        try
        {
            await ForwardAndRecordAsync(context, next, call, upgrade, snapshot.Recording.MaxBodyBytes);
        }
        finally
        {
            session?.Done();
        }
    }

    private async Task ForwardAndRecordAsync(HttpContext context, RequestDelegate next, ProxyCall call, bool upgrade, int maxBodyBytes)
    {
        var (caller, connection, session) = call;
        BodyCapture? requestBody = null;
        if (!upgrade)
        {
            requestBody = new BodyCapture(context.Request.Body, maxBodyBytes);
            context.Request.Body = requestBody;
        }

        var at = time.GetUtcNow().UtcDateTime;
        var started = Stopwatch.GetTimestamp();
        string? error = null;
        try
        {
            if (await guardrails.CheckAsync(context, call) is { } stopped)
            {
                error = stopped;
                return;
            }

            if (!upgrade)
            {
                try
                {
                    await call.Masking.MaskRequestAsync(context.Request, context.RequestAborted);
                }
                catch (MaskingException e)
                {
                    error = e.Message;
                    Audit(caller.Subject, "proxy.masking-refused", connection.Name, AuditOutcome.Denied, new { error });
                    await ProxyProblems.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, "Request not forwarded", e.Message, connection.Name);
                    return;
                }
            }

            await next(context);
            var forwarderError = context.GetForwarderErrorFeature();
            if (forwarderError is not null && MaskingFailure(forwarderError.Exception) is { } withheld)
            {
                // Masking failed closed: the backend's answer stays with Hoop.
                error = withheld.Message;
                Audit(caller.Subject, "proxy.masking-refused", connection.Name, AuditOutcome.Denied, new { error });
                if (!context.Response.HasStarted)
                {
                    await ProxyProblems.WriteAsync(context, StatusCodes.Status502BadGateway, "Response withheld", withheld.Message, connection.Name);
                }
            }
            else if (forwarderError is not null)
            {
                error = Describe(forwarderError, connection);
                Audit(caller.Subject, "proxy.backend-error", connection.Name, AuditOutcome.Failed, new { error });
                if (!context.Response.HasStarted)
                {
                    var status = forwarderError.Error == ForwarderError.RequestTimedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway;
                    await ProxyProblems.WriteAsync(context, status, status == 504 ? "Backend timeout" : "Backend error", error, connection.Name);
                }
            }
        }
        finally
        {
            var elapsed = Stopwatch.GetElapsedTime(started);
            if (session is not null)
            {
                Record(context, call, at, elapsed, requestBody, error is null ? call.Response?.Body : null, upgrade, error);
            }
        }
    }

    /// <summary>
    /// A request that matches no connection. The caller is identified first: without a valid credential, every
    /// name answers 401 alike, so connection names cannot be enumerated.
    /// </summary>
    public async Task UnknownAsync(HttpContext context)
    {
        if (await IdentifyOrRefuseAsync(context, policy.Current, target: null) is not null)
        {
            await ProxyProblems.UnknownConnectionAsync(context);
        }
    }

    /// <summary>The caller, or null once a 401 has been written (and audited).</summary>
    private async Task<Caller?> IdentifyOrRefuseAsync(HttpContext context, PolicySnapshot snapshot, string? target)
    {
        var (caller, failure) = await IdentifyAsync(context, snapshot);
        if (caller is not null)
        {
            return caller;
        }

        var refusal = admissions.Unauthenticated("proxy", target ?? "(no connection)", failure!.Reason, new { reason = failure.Reason, client = Client(context) });
        context.Response.Headers.WWWAuthenticate = $"Bearer realm=\"hoop\", error=\"invalid_token\", error_description=\"{HeaderSafe(refusal.Reason)}\"";
        // The same answer whether or not the name is a connection's.
        await ProxyProblems.WriteAsync(context, StatusCodes.Status401Unauthorized, "Not authenticated", refusal.Reason);
        return null;
    }

    private static MaskingException? MaskingFailure(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is MaskingException masking)
            {
                return masking;
            }
        }

        return null;
    }

    private async Task<(Caller?, AuthenticationFailure?)> IdentifyAsync(HttpContext context, PolicySnapshot snapshot)
    {
        string? credential = context.Request.Headers[IdentityOptions.ApiKeyHeader];
        if (string.IsNullOrEmpty(credential))
        {
            var authorization = context.Request.Headers.Authorization.ToString();
            if (string.IsNullOrEmpty(authorization))
            {
                return (null, new AuthenticationFailure("No credential: send 'Authorization: Bearer <OIDC access token or Hoop API key>'."));
            }

            if (!authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                return (null, new AuthenticationFailure("Only Bearer credentials are accepted: 'Authorization: Bearer <OIDC access token or Hoop API key>'."));
            }

            credential = authorization["Bearer ".Length..].Trim();
        }

        return await callers.IdentifyAsync(credential, snapshot, context.RequestAborted);
    }

    private string Describe(IForwarderErrorFeature error, ConnectionPolicy connection)
    {
        var inner = error.Exception;
        while (inner?.InnerException is not null && inner is not AuthenticationException and not SocketException)
        {
            inner = inner.InnerException;
        }

        return (error.Error, inner) switch
        {
            (ForwarderError.RequestTimedOut, _) => $"The backend of '{connection.Name}' did not answer within {options.BackendTimeout.TotalSeconds:0} s.",
            (_, AuthenticationException) => $"TLS to the backend of '{connection.Name}' failed: {upstream.TlsOf(connection.Name).LastFailure ?? "the handshake did not complete"}.",
            (_, SocketException { SocketErrorCode: SocketError.ConnectionRefused }) => $"The backend of '{connection.Name}' refused the connection.",
            (_, SocketException) => $"The backend of '{connection.Name}' could not be reached.",
            (ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.RequestBodyClient
                or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient, _) =>
                "The agent closed the connection before the exchange completed.",
            (ForwarderError.ResponseBodyDestination or ForwarderError.ResponseHeaders or ForwarderError.RequestBodyDestination, _) =>
                $"The backend of '{connection.Name}' broke off the exchange.",
            _ => $"The backend of '{connection.Name}' could not be reached ({error.Error}).",
        };
    }

    private void Record(HttpContext context, ProxyCall call, DateTime at, TimeSpan elapsed,
        BodyCapture? requestBody, BodyCapture? responseBody, bool upgrade, string? error)
    {
        var (_, connection, session) = call;
        var request = context.Request;
        var response = context.Response;
        var secrets = connection.Secrets.Forms;
        var reflected = call.Reflection.Take();
        if (reflected.Count > 0)
        {
            Audit(call.Caller.Subject, "proxy.secret-reflected", connection.Name, AuditOutcome.Denied, new { where = reflected });
            LogSecretReflected(connection.Name, string.Join(", ", reflected));
        }

        var masking = call.Masking;
        var content = new
        {
            request = new
            {
                method = request.Method,
                path = (request.PathBase + request.Path).Value,
                query = masking.RecordedQuery(request.QueryString, masking.Counts),
                protocol = request.Protocol,
                headers = Headers(request.Headers, secrets),
                body = Body(requestBody, request.ContentType, request.Headers.ContentEncoding, secrets, masking, masking.Request.IsEmpty),
            },
            response = new
            {
                status = response.StatusCode,
                headers = Headers(response.Headers, secrets),
                body = masking.MaskedResponse is { } shown && masking.Recording.SameRulesAs(masking.Response)
                    ? Shown(shown, responseBody, call.Response!.MaxBytes, secrets)
                    : Body(responseBody, response.ContentType, response.Headers.ContentEncoding, secrets, masking, masking.Response.IsEmpty),
            },
            upgrade,
            error,
            secretReflected = reflected.Count == 0 ? null : reflected,
            approvedBy = call.ApprovedBy.Count == 0 ? null : call.ApprovedBy,
            masked = masking.Counts.Total == 0 ? null : masking.Counts.ByDetector,
            maskingSkipped = masking.Skipped,
            tls = new
            {
                inbound = context.Features.Get<ITlsHandshakeFeature>() is { } tls ? $"{tls.Protocol} {tls.NegotiatedCipherSuite}" : null,
                upstream = connection.Address.Scheme == Uri.UriSchemeHttps ? upstream.TlsOf(connection.Name).Negotiated : "none (plain http, set by an admin)",
                verification = connection.TlsVerification.ToString(),
            },
            durationMs = elapsed.TotalMilliseconds,
        };
        session!.AddMasked(masking.Counts);
        recorder.Enqueue(new SessionEvent
        {
            SessionId = session.Id,
            Sequence = session.NextSequence(),
            At = at,
            Kind = upgrade ? "http-upgrade" : call.Verdict is { } verdict ? $"http-{verdict}" : "http",
            Summary = $"{request.Method} {request.Path}{(request.QueryString.HasValue ? "?…" : "")} {response.StatusCode}",
            Content = JsonSerializer.Serialize(content, JsonOptions),
            DurationMicroseconds = (long)(elapsed.TotalMilliseconds * 1000),
            Marks = (masking.Counts.Total == 0 ? EventMarks.None : EventMarks.Masked)
                | (call.Verdict is null && (error is not null || response.StatusCode >= 500) ? EventMarks.Error : EventMarks.None)
                | (call.ApprovedBy.Count == 0 ? EventMarks.None : EventMarks.Approved),
        });
    }

    /// <summary>Recorded headers: what authenticates anyone is left out; the stored secret never appears.</summary>
    private static Dictionary<string, string> Headers(IHeaderDictionary headers, IReadOnlyList<string> secrets)
    {
        var recorded = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in headers)
        {
            if (name.Equals("Set-Cookie", StringComparison.OrdinalIgnoreCase)
                || CredentialTransforms.AgentCredentials.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                recorded[name] = "[removed]";
                continue;
            }

            recorded[name] = Scrub(values.ToString(), secrets);
        }

        return recorded;
    }

    /// <summary>
    /// The response as the agent got it, already masked by the same rules the recording has: recorded as it is,
    /// rather than masked a second time from the backend's bytes.
    /// </summary>
    private static object Shown(byte[] shown, BodyCapture? capture, int maxBytes, IReadOnlyList<string> secrets)
    {
        var truncated = shown.Length > maxBytes;
        var text = Scrub(Encoding.UTF8.GetString(shown, 0, Math.Min(shown.Length, maxBytes)), secrets, truncated);
        return new { bytes = capture?.TotalBytes ?? shown.Length, truncated, text = truncated ? text[..(text.LastIndexOfAny(Separators) + 1)] : text, note = (string?)null };
    }

    /// <summary>
    /// A body as recorded: cut at the recording limit, scrubbed of the stored secret, masked by the recording's
    /// rules. <paramref name="count"/>: whether those maskings count, i.e. the body was not masked (and counted)
    /// on its way already, so one value is not counted twice.
    /// </summary>
    private static object? Body(BodyCapture? capture, string? contentType, string? contentEncoding, IReadOnlyList<string> secrets, HttpMasking masking,
        bool count)
    {
        if (capture is null || capture.TotalBytes == 0)
        {
            return null;
        }

        var textual = string.IsNullOrEmpty(contentEncoding) && Masker.IsText(contentType);
        string? note = textual ? null : $"{contentType ?? "unknown type"}{(string.IsNullOrEmpty(contentEncoding) ? "" : $", {contentEncoding}")}: not recorded as text";
        string? text = null;
        var kind = Masker.KindOf(contentType);
        if (textual && capture.Truncated && masking.Recording.HasFieldRules && kind is Masker.BodyKind.Json or Masker.BodyKind.Form)
        {
            // A document cut at the recording limit cannot be parsed, so its fields could not be masked.
            note = "cut at the recording limit: not recorded, because field masking needs the whole body";
        }
        else if (textual)
        {
            text = Scrub(Encoding.UTF8.GetString(capture.Captured), secrets, capture.Truncated);
            var lines = Masker.IsLines(kind);
            if (capture.Truncated)
            {
                // The last value (or line of a stream) may be cut in half, and half a card number is not found by its detector: drop it.
                text = text[..((lines ? text.LastIndexOf('\n') : text.LastIndexOfAny(Separators)) + 1)];
            }

            if (!masking.Recording.IsEmpty)
            {
                try
                {
                    // A cut document is masked as text; a cut stream of lines still line by line (its lines are whole).
                    var maskAs = capture.Truncated && !lines ? "text/plain" : contentType;
                    text = Encoding.UTF8.GetString(masking.Recording.MaskBody(Encoding.UTF8.GetBytes(text), maskAs, count ? masking.Counts : new MaskingCounts()));
                }
                catch (MaskingException e)
                {
                    // The exchange is still recorded; only its body is not.
                    (text, note) = (null, $"not recorded: {e.Message}");
                }
            }
        }

        return new { bytes = capture.TotalBytes, truncated = capture.Truncated, text, note };
    }

    private static readonly char[] Separators = [' ', '\n', '\r', '\t', ',', ';', '&', '"', '\'', '<', '>', '{', '}', '[', ']'];

    /// <summary>
    /// Removes every form of the stored credential. A capture cut off at the cap may end in the first part of
    /// one: that tail goes too.
    /// </summary>
    private static string Scrub(string text, IReadOnlyList<string> secrets, bool truncated = false)
    {
        foreach (var secret in secrets)
        {
            text = text.Replace(secret, "[removed]", StringComparison.Ordinal);
            if (truncated)
            {
                for (var length = Math.Min(secret.Length - 1, text.Length); length >= 4; length--)
                {
                    if (text.EndsWith(secret.AsSpan(0, length), StringComparison.Ordinal))
                    {
                        text = text[..^length] + "[removed]";
                        break;
                    }
                }
            }
        }

        return text;
    }

    // Through the recorder's queue, so a refusal costs the request no database round trip.
    private void Audit(string actor, string action, string target, AuditOutcome outcome, object details) =>
        recorder.Enqueue(audit.Create(actor, action, target, outcome, details));

    private static string? Client(HttpContext context) => context.Connection.RemoteIpAddress?.ToString();

    /// <summary>Printable ASCII only: a header value with anything else would fail the response.</summary>
    private static string HeaderSafe(string text) =>
        new(text.Select(c => c is >= ' ' and <= '~' && c is not '"' and not '\\' ? c : '?').ToArray());

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    [LoggerMessage(4021, LogLevel.Warning, "The backend of {Connection} sent its stored secret back ({Where}); it was replaced before the agent got it")]
    private partial void LogSecretReflected(string connection, string where);
}
