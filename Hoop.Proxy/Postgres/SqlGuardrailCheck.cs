using System.Security.Cryptography;
using System.Text.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Proxy.Guardrails;
using Hoop.Proxy.Guardrails.Rules;
using Hoop.Proxy.Model;
using Hoop.Proxy.Recording;
using Hoop.Proxy.Reviews;

namespace Hoop.Proxy.Postgres;

/// <summary>
/// The SQL guardrails of a connection, checked on each query before it reaches the database, statement by
/// statement (<see cref="SqlStatements"/>: comments, literals and dollar-quoted bodies are not code). A deny rule
/// refuses the query (SQLSTATE 42501 with the rule's message); a review rule holds it until reviewers approve
/// the identical query with the identical parameters (<see cref="ReviewGate"/>).
/// </summary>
public sealed partial class SqlGuardrailCheck(GuardrailEvaluator evaluator, ReviewGate reviews, Recorder recorder, AuditLog audit)
{
    /// <summary>
    /// Null to run the query, else why not. <paramref name="parameters"/> are the bind values of an extended-protocol
    /// query (for the approval's fingerprint and the reviewer), already masked as recordings are. The reviews whose
    /// approval lets the query run are added to <paramref name="approvedBy"/>.
    /// </summary>
    internal async Task<PgStop?> CheckAsync(PgCheckPoint point, Caller caller, ConnectionPolicy connection, Guid? sessionId, PolicySnapshot snapshot, bool responseMasked,
        string sql, IReadOnlyList<string?>? parameters, byte[]? parameterDigest, List<Guid> approvedBy, CancellationToken cancellationToken)
    {
        // The lexer reads strings as standard_conforming_strings = on; a session may not change it (SET, RESET,
        // set_config, ALTER ... SET). Should it change anyway, the database reports it and the relay ends the session.
        if (sql.Contains("standard_conforming_strings", StringComparison.OrdinalIgnoreCase) && ChangesSetting().IsMatch(sql))
        {
            return Stop(caller, connection, GuardrailStop.Denied, "0A000",
                "standard_conforming_strings cannot be changed through Hoop: its guardrails read SQL strings with the setting on", null, null);
        }

        var reviewHere = point is PgCheckPoint.Query or PgCheckPoint.ParseNamed or PgCheckPoint.BindUnnamed;
        var rules = snapshot.Guardrails.Count == 0 ? [] : snapshot.Guardrails
            .Where(r => r.AppliesTo(connection.Id, GuardrailProtocol.Sql) && (reviewHere || r.Action == GuardrailAction.Deny)).ToList();
        var copy = (responseMasked || point != PgCheckPoint.Query) && sql.Contains("copy", StringComparison.OrdinalIgnoreCase);
        if (rules.Count == 0 && !copy)
        {
            return null; // The usual case: the query is not even split.
        }

        IReadOnlyList<SqlStatement> statements;
        try
        {
            statements = SqlStatements.Split(sql);
        }
        catch (SqlSyntaxException e)
        {
            // The database would refuse it too; a query Hoop cannot read is never passed to it unchecked.
            return Stop(caller, connection, GuardrailStop.Denied, "42601", $"Hoop could not read this query ({e.Message}), so its guardrails cannot check it", null, null);
        }

        if (point != PgCheckPoint.Query && statements.Any(s => s.Kinds.Contains("COPY") && s.Code.Contains(" FROM STDIN", StringComparison.Ordinal)))
        {
            // Extended-protocol copy-in makes the database ignore Syncs, which Hoop's message tracking cannot follow.
            return Stop(caller, connection, GuardrailStop.Denied, "0A000", "COPY ... FROM STDIN is served through Hoop as a simple query only", null, null);
        }

        if (responseMasked && statements.Any(s => s.Kinds.Contains("COPY") && s.Code.Contains(" TO ", StringComparison.Ordinal)))
        {
            return Stop(caller, connection, GuardrailStop.Denied, "42501",
                "COPY ... TO is refused on this connection: masking rules apply to your results, and COPY output has no columns to mask by", null, "masking");
        }

        var subject = new ReviewSubject(() => Fingerprint(connection, sql, parameterDigest), () => JsonSerializer.Serialize(new { sql, parameters }, JsonOptions),
            SqlStatements.Justification(sql), TimeSpan.Zero);
        var decision = await evaluator.EvaluateAsync(statements.SelectMany(statement => rules.Where(rule => rule.Matches(statement))), caller, connection, sessionId,
            subject, approvedBy, cancellationToken);
        if (decision.Verdict == GuardrailVerdict.Pass)
        {
            return null;
        }

        var review = decision.Review;
        var (sqlState, message, detail) = decision.Verdict switch
        {
            GuardrailVerdict.Denied or GuardrailVerdict.NotReviewable => ("42501", $"{decision.RuleMessage} (guardrail '{decision.RuleName}')", null),
            GuardrailVerdict.TooManyReviews => ("53400", decision.Reason!, null),
            GuardrailVerdict.Rejected => ("42501", $"review {review!.Id} was rejected: {decision.Reason}", null),
            GuardrailVerdict.Expired => ("42501", $"review {review!.Id} expired without a decision; run the query again to ask anew", null),
            GuardrailVerdict.ApprovalUsed => ("42501", "the approval for this query was used by an identical query a moment ago; run it again to ask anew", null),
            _ => ("42501", $"{decision.RuleMessage} The query is held as review {review!.Id}.",
                (string?)$"A reviewer decides at {reviews.LinkTo(review.Id)}; once approved, run the identical query again. Explain it with a comment: /* justification: ... */"),
        };
        return Stop(caller, connection, decision.Stop, sqlState, message, detail, decision.RuleName);
    }

    private PgStop Stop(Caller caller, ConnectionPolicy connection, GuardrailStop stop, string sqlState, string message, string? detail, string? rule)
    {
        recorder.Enqueue(audit.Create(caller.Subject, stop == GuardrailStop.Held ? "postgres.review-held" : "postgres.guardrail-denied", connection.Name,
            AuditOutcome.Denied, new { rule, message }));
        return new PgStop(stop, sqlState, message, detail, rule);
    }

    /// <summary>What makes two queries "the identical query" for an approval once: the text and every bind value.</summary>
    private static string Fingerprint(ConnectionPolicy connection, string sql, byte[]? parameterDigest) =>
        Convert.ToHexString(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(new[]
        {
            connection.Id.ToString(), "sql", sql, parameterDigest is null ? "" : Convert.ToHexString(parameterDigest),
        })));

    [System.Text.RegularExpressions.GeneratedRegex(@"\b(re)?set\b|set_config", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex ChangesSetting();

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
