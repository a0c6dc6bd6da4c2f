using System.Text.RegularExpressions;
using Hoop.Data.Entities;
using Microsoft.AspNetCore.Http;

namespace Hoop.Proxy.Guardrails.Rules;

/// <summary>
/// A guardrail rule, compiled: every condition it has must hold for it to fire. HTTP rules look at the method,
/// path, a header and the body; SQL rules at each statement's kinds (found by <see cref="SqlStatements"/>) and its
/// code without comments and literals. Patterns run on the non-backtracking engine.
/// </summary>
public sealed partial class Guardrail
{
    public required Guid Id { get; init; }
    public required GuardrailProtocol Protocol { get; init; }
    public required string Name { get; init; }
    public required GuardrailAction Action { get; init; }
    public required string Message { get; init; }
    public Guid? ConnectionId { get; init; }
    public string? Method { get; init; }
    public Regex? Path { get; init; }
    public string? HeaderName { get; init; }
    public Regex? HeaderValue { get; init; }
    public Regex? Body { get; init; }

    /// <summary>SQL: the statement kinds that fire the rule (any of them); empty for any statement.</summary>
    public IReadOnlySet<string> SqlKinds { get; init; } = new HashSet<string>();

    /// <summary>SQL: a pattern over the statement's code (comments removed, literals emptied, keywords upper-cased).</summary>
    public Regex? Statement { get; init; }

    /// <summary>The group whose reviewers decide; null: anyone with the reviewer role.</summary>
    public string? ReviewerGroup { get; init; }
    public int MinApprovals { get; init; } = 1;

    public bool NeedsBody => Body is not null;

    public bool AppliesTo(Guid connectionId, GuardrailProtocol protocol) => Protocol == protocol && (ConnectionId is null || ConnectionId == connectionId);

    /// <summary>Whether one SQL statement fires this rule.</summary>
    internal bool Matches(SqlStatement statement) =>
        (SqlKinds.Count == 0 || statement.Kinds.Overlaps(SqlKinds)) && (Statement is null || Statement.IsMatch(statement.Code));

    /// <summary>
    /// Whether the request matches. <paramref name="body"/> is the body as text, or null when it could not be read
    /// whole (too large, compressed): a body condition then counts as met, so a guardrail is never bypassed by size.
    /// </summary>
    public bool Matches(string method, string path, IHeaderDictionary headers, string? body)
    {
        if (Method is not null && !Method.Equals(method, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        if (Path is not null && !Path.IsMatch(path))
        {
            return false;
        }

        if (HeaderName is not null && (!headers.TryGetValue(HeaderName, out var values) || (HeaderValue is not null && !values.Any(v => v is not null && HeaderValue.IsMatch(v)))))
        {
            return false;
        }

        return Body is null || body is null || Body.IsMatch(body);
    }

    /// <summary>Compiles a stored rule; throws <see cref="ArgumentException"/> naming the field and the problem.</summary>
    public static Guardrail Compile(GuardrailRule rule, string? reviewerGroup) => rule.Protocol == GuardrailProtocol.Sql ? CompileSql(rule, reviewerGroup) : new()
    {
        Id = rule.Id,
        Protocol = GuardrailProtocol.Http,
        Name = rule.Name,
        Action = rule.Action,
        Message = rule.Message,
        ConnectionId = rule.ConnectionId,
        Method = string.IsNullOrWhiteSpace(rule.HttpMethod) ? null : rule.HttpMethod.Trim().ToUpperInvariant(),
        Path = string.IsNullOrWhiteSpace(rule.Pattern) ? null : PathPattern(rule.Pattern.Trim()),
        HeaderName = string.IsNullOrWhiteSpace(rule.HeaderName) ? null : rule.HeaderName.Trim(),
        HeaderValue = string.IsNullOrWhiteSpace(rule.HeaderPattern) ? null : Pattern("headerPattern", rule.HeaderPattern),
        Body = string.IsNullOrWhiteSpace(rule.BodyPattern) ? null : Pattern("bodyPattern", rule.BodyPattern),
        ReviewerGroup = reviewerGroup,
        MinApprovals = rule.MinApprovals,
    };

    private static Guardrail CompileSql(GuardrailRule rule, string? reviewerGroup)
    {
        var kinds = rule.SqlKinds.Select(k => k.Trim().ToUpperInvariant()).Where(k => k.Length > 0).ToHashSet(StringComparer.Ordinal);
        if (kinds.FirstOrDefault(k => !SqlKindPattern().IsMatch(k)) is { } bad)
        {
            throw new GuardrailRuleException("sqlKinds", $"'{bad}' is not a statement kind: use a leading keyword such as DROP, TRUNCATE, ALTER, GRANT, DELETE, or {SqlStatements.DeleteWithoutWhere} / {SqlStatements.UpdateWithoutWhere} / {SqlStatements.Opaque}.");
        }

        var statement = string.IsNullOrWhiteSpace(rule.Pattern) ? null : Pattern("statement", "(?i)" + rule.Pattern.Trim());
        if (kinds.Count == 0 && statement is null)
        {
            throw new GuardrailRuleException("sqlKinds", "Give the statement kinds the rule is for, a statement pattern, or both.");
        }

        return new Guardrail
        {
            Id = rule.Id,
            Protocol = GuardrailProtocol.Sql,
            Name = rule.Name,
            Action = rule.Action,
            Message = rule.Message,
            ConnectionId = rule.ConnectionId,
            SqlKinds = kinds,
            Statement = statement,
            ReviewerGroup = reviewerGroup,
            MinApprovals = rule.MinApprovals,
        };
    }

    [GeneratedRegex("^[A-Z]+(-[A-Z]+)*$")]
    private static partial Regex SqlKindPattern();

    /// <summary>A path glob: '*' is one segment's worth of characters, '**' anything; the whole path must match.</summary>
    public static Regex PathPattern(string glob)
    {
        if (!glob.StartsWith('/'))
        {
            throw new GuardrailRuleException("pattern", "A path pattern starts with '/', such as /admin/** or /v1/*/delete.");
        }

        var regex = Regex.Escape(CanonicalPath(glob)).Replace(@"\*\*", ".*", StringComparison.Ordinal).Replace(@"\*", "[^/]*", StringComparison.Ordinal);
        try
        {
            return new Regex($"^{regex}\\z", RegexOptions.NonBacktracking | RegexOptions.CultureInvariant | RegexOptions.IgnoreCase | RegexOptions.Singleline);
        }
        catch (NotSupportedException)
        {
            // The engine's automaton has a size limit; a glob of a few kilobytes passes it.
            throw new GuardrailRuleException("pattern", "The path pattern is too long or has too many wildcards for the matching engine; shorten it.");
        }
    }

    /// <summary>
    /// A path as rules see it, so that spellings backends take for the same path match the same rules: an encoded
    /// slash decoded, runs of slashes as one, ";parameters" of segments dropped, no trailing slash.
    /// </summary>
    public static string CanonicalPath(string path)
    {
        path = path.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase).Replace("%5C", "/", StringComparison.OrdinalIgnoreCase).Replace('\\', '/');
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(s => s.Split(';')[0]).Where(s => s.Length > 0);
        return "/" + string.Join('/', segments);
    }

    /// <summary>
    /// The body as body patterns see it: UTF-8 text, and for JSON its string values unescaped as well (so that
    /// "\\u0044ROP" is seen as "DROP"). Null (so a body condition counts as met) when it cannot be read as text.
    /// </summary>
    public static string? BodyText(byte[] body, string? contentType, string? contentEncoding)
    {
        if (!string.IsNullOrEmpty(contentEncoding) || Masking.Masker.OtherCharset(contentType) is not null)
        {
            return null;
        }

        var text = System.Text.Encoding.UTF8.GetString(body);
        if (Masking.Masker.KindOf(contentType) != Masking.Masker.BodyKind.Json)
        {
            return text;
        }

        var values = new System.Text.StringBuilder(text).Append('\n');
        try
        {
            var reader = new System.Text.Json.Utf8JsonReader(body);
            while (reader.Read())
            {
                if (reader.TokenType is System.Text.Json.JsonTokenType.String or System.Text.Json.JsonTokenType.PropertyName)
                {
                    values.Append(reader.GetString()).Append('\n');
                }
            }
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException)
        {
            // Not valid JSON: the raw text is what there is.
        }

        return values.ToString();
    }

    /// <summary>A regex on the non-backtracking engine, or the reason it cannot be one.</summary>
    public static Regex Pattern(string field, string pattern)
    {
        try
        {
            return new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
        }
        catch (NotSupportedException e)
        {
            throw new GuardrailRuleException(field, $"The pattern uses a construct the non-backtracking engine refuses: {e.Message}");
        }
        catch (ArgumentException e)
        {
            throw new GuardrailRuleException(field, e.Message);
        }
    }
}

/// <summary>A guardrail rule that cannot work, with the field to blame.</summary>
public sealed class GuardrailRuleException(string blamed, string message) : ArgumentException(message)
{
    public string Field => blamed;
}
