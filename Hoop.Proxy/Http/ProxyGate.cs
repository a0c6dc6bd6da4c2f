using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Proxy.Admission;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Recording;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Hoop.Proxy.Http;

/// <summary>
/// Every request on the proxy port, in the order it happens: which connection it names (<see cref="ProxyRoute"/>),
/// who is calling (token or API key), may they use it and can the exchange be recorded (<see cref="Admissions"/>),
/// do the guardrails let it through (<see cref="GuardrailCheck"/>), the request body masked
/// (<see cref="HttpMasking"/>), then YARP's forwarder with the connection's client and the exchange's
/// <see cref="BackendTransformer"/>; backend errors become problem+json, and the exchange is recorded
/// (<see cref="ExchangeRecord"/>). Every refusal is audited.
/// </summary>
internal sealed partial class ProxyGate(
    PolicyStore policy,
    Callers callers,
    Admissions admissions,
    Recorder recorder,
    IHttpForwarder forwarder,
    UpstreamClients upstream,
    MaskingOptions masking,
    GuardrailCheck guardrails,
    AuditLog audit,
    ProxyOptions options,
    TimeProvider time,
    ILogger<ProxyGate> logger)
{
    private readonly ForwarderRequestConfig _requestConfig = new()
    {
        ActivityTimeout = options.BackendTimeout,
        Version = HttpVersion.Version20,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
    };

    public async Task InvokeAsync(HttpContext context)
    {
        var snapshot = policy.Current;
        var route = ProxyRoute.Find(context.Request, snapshot, out var known);
        if (await IdentifyOrRefuseAsync(context, snapshot, route?.Name) is not { } caller)
        {
            return;
        }

        if (route is not { } found || known is not { } connection)
        {
            // The same answer for a name that is not a connection's and one the caller may not know about.
            await ProxyProblems.UnknownConnectionAsync(context);
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
        var exchange = new HttpExchange(caller, connection, found, session, new HttpMasking(snapshot.MaskersFor(caller, connection), masking))
        {
            Response = upgrade ? null : new ResponseCapture(snapshot.Recording.MaxBodyBytes),
        };
        try
        {
            await ForwardAndRecordAsync(context, exchange, upgrade, snapshot);
        }
        finally
        {
            session?.Done();
        }
    }

    private async Task ForwardAndRecordAsync(HttpContext context, HttpExchange exchange, bool upgrade, PolicySnapshot snapshot)
    {
        var (caller, connection) = (exchange.Caller, exchange.Connection);
        BodyCapture? requestBody = null;
        if (!upgrade)
        {
            requestBody = new BodyCapture(context.Request.Body, snapshot.Recording.MaxBodyBytes);
            context.Request.Body = requestBody;
        }

        var at = time.GetUtcNow().UtcDateTime;
        var started = Stopwatch.GetTimestamp();
        string? error = null;
        try
        {
            if (await guardrails.CheckAsync(context, exchange, snapshot) is { } stopped)
            {
                error = stopped;
                return;
            }

            if (!upgrade)
            {
                try
                {
                    await exchange.Masking.MaskRequestAsync(context.Request, context.RequestAborted);
                }
                catch (MaskingException e)
                {
                    error = e.Message;
                    Audit(caller.Subject, "proxy.masking-refused", connection.Name, AuditOutcome.Denied, new { error });
                    await ProxyProblems.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, "Request not forwarded", e.Message, connection.Name);
                    return;
                }
            }

            await forwarder.SendAsync(context, connection.Address.ToString(), upstream.For(connection), _requestConfig, new BackendTransformer(exchange));
            var forwarderError = context.GetForwarderErrorFeature();
            if (forwarderError is not null && WithheldBy(forwarderError.Exception) is { } withheld)
            {
                // Masking failed closed, or the answer could not be searched for the secret: it stays with Hoop.
                error = withheld.Message;
                Audit(caller.Subject, withheld is MaskingException ? "proxy.masking-refused" : "proxy.backend-error", connection.Name,
                    withheld is MaskingException ? AuditOutcome.Denied : AuditOutcome.Failed, new { error });
                if (!context.Response.HasStarted)
                {
                    await ProxyProblems.WriteAsync(context, StatusCodes.Status502BadGateway, "Response withheld", withheld.Message, connection.Name);
                }
            }
            else if (forwarderError is not null)
            {
                var timedOut = TimedOut(forwarderError, context);
                error = Describe(forwarderError, connection, timedOut, context.RequestAborted.IsCancellationRequested);
                Audit(caller.Subject, "proxy.backend-error", connection.Name, AuditOutcome.Failed, new { error });
                if (!context.Response.HasStarted)
                {
                    var status = timedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway;
                    await ProxyProblems.WriteAsync(context, status, status == 504 ? "Backend timeout" : "Backend error", error, connection.Name);
                }
            }
        }
        finally
        {
            var reflected = exchange.Reflection.Take();
            if (reflected.Count > 0)
            {
                Audit(caller.Subject, "proxy.secret-reflected", connection.Name, AuditOutcome.Denied, new { where = reflected });
                LogSecretReflected(connection.Name, string.Join(", ", reflected));
            }

            if (exchange.Session is { } session)
            {
                var outcome = new ExchangeOutcome(at, Stopwatch.GetElapsedTime(started), requestBody, upgrade, error, reflected);
                recorder.Enqueue(ExchangeRecord.Compose(exchange, context, session, outcome, upstream.TlsOf(connection.Name)));
            }
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

    /// <summary>Why Hoop kept the backend's answer from the agent (masking failed closed, or it could not be searched), or null.</summary>
    private static Exception? WithheldBy(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is MaskingException or WithheldResponseException)
            {
                return e;
            }
        }

        return null;
    }

    /// <summary>
    /// The backend stayed silent past the timeout: before its headers (YARP's RequestTimedOut), or while Hoop read the
    /// start of its body to scrub or mask it (a cancellation the agent did not cause).
    /// </summary>
    private static bool TimedOut(IForwarderErrorFeature error, HttpContext context) =>
        error.Error == ForwarderError.RequestTimedOut
        || (error.Error == ForwarderError.ResponseHeaders && error.Exception is OperationCanceledException && !context.RequestAborted.IsCancellationRequested);

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

    private string Describe(IForwarderErrorFeature error, ConnectionPolicy connection, bool timedOut, bool agentGone)
    {
        var inner = error.Exception;
        while (inner?.InnerException is not null && inner is not AuthenticationException and not SocketException)
        {
            inner = inner.InnerException;
        }

        if (timedOut)
        {
            return $"The backend of '{connection.Name}' did not answer within {options.BackendTimeout.TotalSeconds:0} s.";
        }

        return (error.Error, inner) switch
        {
            (ForwarderError.ResponseHeaders, OperationCanceledException) when agentGone => "The agent closed the connection before the exchange completed.",
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

    // Through the recorder's queue, so a refusal costs the request no database round trip.
    private void Audit(string actor, string action, string target, AuditOutcome outcome, object details) =>
        recorder.Enqueue(audit.Create(actor, action, target, outcome, details));

    private static string? Client(HttpContext context) => context.Connection.RemoteIpAddress?.ToString();

    /// <summary>Printable ASCII only: a header value with anything else would fail the response.</summary>
    private static string HeaderSafe(string text) =>
        new(text.Select(c => c is >= ' ' and <= '~' && c is not '"' and not '\\' ? c : '?').ToArray());

    [LoggerMessage(4021, LogLevel.Warning, "The backend of {Connection} sent its stored secret back ({Where}); it was replaced before the agent got it")]
    private partial void LogSecretReflected(string connection, string where);
}
