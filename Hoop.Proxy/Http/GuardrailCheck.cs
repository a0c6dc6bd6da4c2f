using System.Text;
using System.Text.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Proxy.Guardrails;
using Hoop.Proxy.Guardrails.Rules;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Model;
using Hoop.Proxy.Recording;
using Hoop.Proxy.Reviews;
using Microsoft.AspNetCore.Http;

namespace Hoop.Proxy.Http;

/// <summary>
/// The guardrails of a connection, checked before a request is forwarded: deny rules refuse it, review rules
/// hold it until reviewers approve (<see cref="ReviewGate"/>). Every stop is audited and marked for the recording.
/// </summary>
internal sealed class GuardrailCheck(GuardrailEvaluator evaluator, ReviewGate reviews, MaskingOptions masking, Recorder recorder, AuditLog audit)
{
    /// <summary>
    /// The guardrails of this connection, in order: a deny rule that matches refuses the request; a review rule that
    /// matches holds it unless an approval covers it. Returns why the request was stopped, or null to go on.
    /// </summary>
    public async Task<string?> CheckAsync(HttpContext context, HttpExchange exchange, PolicySnapshot snapshot)
    {
        var (caller, connection) = (exchange.Caller, exchange.Connection);
        var all = snapshot.Guardrails;
        if (all.Count == 0)
        {
            return null; // The usual case: nothing to allocate on the way through.
        }

        var rules = all.Where(r => r.AppliesTo(connection.Id, GuardrailProtocol.Http)).ToList();
        if (rules.Count == 0)
        {
            return null;
        }

        var request = context.Request;
        var path = Guardrail.CanonicalPath(exchange.Route.BackendPath(request));
        byte[]? body = null;
        var bodyComplete = true;
        if (rules.Any(r => r.NeedsBody || r.Action == GuardrailAction.Review) && request.ContentLength != 0 && request.Body is not null)
        {
            (body, bodyComplete) = await BodyBuffer.ReadAsync(request.Body, masking.MaxBodyBytes, context.RequestAborted);
            request.Body = bodyComplete ? new MemoryStream(body, writable: false) : new BodyBuffer.PrefixedStream(body, request.Body);
        }

        var text = body is null ? "" : bodyComplete ? Guardrail.BodyText(body, request.ContentType, request.Headers.ContentEncoding) : null;
        // The same request under every review rule that holds it: fingerprinted and described once.
        var subject = new ReviewSubject(() => Fingerprint(connection, request, path, body), () => Describe(request, path, body, exchange.Masking),
            Justification(request), PreferredWait(request), reviewable: bodyComplete && body is not { Length: > ReviewBodyLimit });
        var decision = await evaluator.EvaluateAsync(rules.Where(r => r.Matches(request.Method, path, request.Headers, text)), caller, connection,
            exchange.Session?.Id, subject, exchange.ApprovedBy, context.RequestAborted);
        if (decision.Verdict == GuardrailVerdict.Pass)
        {
            return null;
        }

        var review = decision.Review;
        var (status, title, detail, action) = decision.Verdict switch
        {
            GuardrailVerdict.Denied => (StatusCodes.Status403Forbidden, "Denied by guardrail", decision.RuleMessage!, "proxy.guardrail-denied"),
            GuardrailVerdict.NotReviewable => (StatusCodes.Status403Forbidden, "Denied by guardrail",
                $"This request needs a review (rule '{decision.RuleName}'), and its body is larger than {ReviewBodyLimit / 1024} KiB, more than a reviewer can be shown.",
                "proxy.guardrail-denied"),
            GuardrailVerdict.TooManyReviews => (StatusCodes.Status429TooManyRequests, "Too many reviews pending", decision.Reason!, "proxy.review-refused"),
            GuardrailVerdict.Rejected => (StatusCodes.Status403Forbidden, "Review rejected", $"Review {review!.Id} was rejected: {decision.Reason}.", "proxy.review-held"),
            GuardrailVerdict.Expired => (StatusCodes.Status403Forbidden, "Review expired",
                $"Review {review!.Id} expired without a decision. Send the request again to ask anew.", "proxy.review-held"),
            GuardrailVerdict.ApprovalUsed => (StatusCodes.Status403Forbidden, "Approval already used",
                "The approval for this request was used by an identical request a moment ago; send it again to ask anew.", "proxy.review-held"),
            _ => (StatusCodes.Status403Forbidden, "Review required",
                $"{decision.RuleMessage} The request is held as review {review!.Id}; send it again once a reviewer approves it (or add 'Prefer: wait=60' to wait for the decision).",
                "proxy.review-held"),
        };
        if (decision.Verdict == GuardrailVerdict.TooManyReviews)
        {
            context.Response.Headers.RetryAfter = "60";
        }

        var extra = decision.Verdict is GuardrailVerdict.Held or GuardrailVerdict.Rejected or GuardrailVerdict.Expired
            ? new Dictionary<string, object?>
            {
                ["reviewId"] = review!.Id,
                ["reviewUrl"] = reviews.LinkTo(review.Id).ToString(),
                ["reviewStatus"] = review.Status.ToString().ToLowerInvariant(),
            }
            : null;
        return await StopAsync(context, exchange, decision.Stop, action, status, title, detail, decision.RuleName!, extra);
    }

    /// <summary>Refuses the request with problem+json, audited, and marks it for the recording; returns the reason.</summary>
    private async Task<string> StopAsync(HttpContext context, HttpExchange exchange, GuardrailStop stop, string action, int status, string title, string detail,
        string rule, Dictionary<string, object?>? extra = null)
    {
        exchange.Stop = stop;
        exchange.ApprovedBy.Clear();
        extra ??= [];
        extra["rule"] = rule;
        recorder.Enqueue(audit.Create(exchange.Caller.Subject, action, exchange.Connection.Name, AuditOutcome.Denied, new { rule, detail, extra }));
        await ProxyProblems.WriteAsync(context, status, title, detail, exchange.Connection.Name, extra);
        return detail;
    }

    /// <summary>The largest body a request held for review may have: the reviewer sees all of what they approve.</summary>
    private const int ReviewBodyLimit = 64 * 1024;

    /// <summary>What makes two requests "the identical request" for an approval once.</summary>
    private static string Fingerprint(ConnectionPolicy connection, HttpRequest request, string path, byte[]? body)
    {
        var bodyHash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(body ?? []));
        // A JSON array, so no field can run into the next; with the headers that change what the request does.
        string[] parts =
        [
            connection.Id.ToString(), request.Method.ToUpperInvariant(), path, request.QueryString.Value ?? "", bodyHash,
            request.ContentType ?? "", request.Headers.ContentEncoding.ToString(), request.Headers["X-HTTP-Method-Override"].ToString(),
            request.Headers["X-HTTP-Method"].ToString(), request.Headers["X-Method-Override"].ToString(),
        ];
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(parts)));
    }

    /// <summary>What the reviewer sees: the request masked as recordings are (a body that is not text by type, size and digest).</summary>
    private static string Describe(HttpRequest request, string path, byte[]? body, HttpMasking masking)
    {
        string? text = null;
        if (body is { Length: > 0 } && Masking.Masker.IsText(request.ContentType) && string.IsNullOrEmpty(request.Headers.ContentEncoding))
        {
            try
            {
                text = Encoding.UTF8.GetString(masking.Recording.IsEmpty ? body : masking.Recording.MaskBody(body, request.ContentType, new MaskingCounts()));
            }
            catch (MaskingException e)
            {
                text = $"(body not shown: {e.Message})";
            }
        }
        else if (body is { Length: > 0 })
        {
            // Not text: the reviewer is told what it is, how big, and its digest.
            text = $"({request.ContentType ?? "unknown type"}{(string.IsNullOrEmpty(request.Headers.ContentEncoding) ? "" : $", {request.Headers.ContentEncoding}")}, "
                + $"{body.Length} bytes, SHA-256 {Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(body))})";
        }

        var query = masking.RecordedQuery(request.QueryString, new MaskingCounts());
        return JsonSerializer.Serialize(new
        {
            method = request.Method,
            path,
            query,
            contentType = request.ContentType,
            methodOverride = request.Headers["X-HTTP-Method-Override"].ToString() is { Length: > 0 } o ? o : null,
            body = text,
        }, JsonOptions);
    }

    private static string? Justification(HttpRequest request)
    {
        var text = request.Headers[JustificationHeader].ToString().Trim();
        return text.Length == 0 ? null : text.Length > 1000 ? text[..1000] : text;
    }

    /// <summary>RFC 7240 "Prefer: wait=N": how long the agent is willing to wait for the decision.</summary>
    private static TimeSpan PreferredWait(HttpRequest request)
    {
        foreach (var preference in request.Headers["Prefer"].SelectMany(v => (v ?? "").Split(',')))
        {
            var parts = preference.Trim().Split('=', 2);
            if (parts.Length == 2 && parts[0].Trim().Equals("wait", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(parts[1].Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds))
            {
                return TimeSpan.FromSeconds(seconds);
            }
        }

        return TimeSpan.Zero;
    }

    /// <summary>The header an agent explains a held request with; the reviewer sees it.</summary>
    public const string JustificationHeader = "X-Hoop-Justification";

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
