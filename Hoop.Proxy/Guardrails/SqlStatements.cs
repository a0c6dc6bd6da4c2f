using System.Text;

namespace Hoop.Proxy.Guardrails;

public enum SqlTokenKind
{
    Word,
    QuotedIdentifier,
    String,
    Number,
    Parameter,
    Symbol,
    Semicolon,
}

/// <summary>One token of PostgreSQL's lexical grammar. Words are kept upper-cased for keyword comparison.</summary>
public readonly record struct SqlToken(SqlTokenKind Kind, string Text);

/// <summary>SQL that cannot be split into tokens (an unterminated string, comment or dollar quote).</summary>
public sealed class SqlSyntaxException(string message) : Exception(message);

/// <summary>
/// One statement of a query string: the kinds guardrails match on (DROP, DELETE, DELETE-WITHOUT-WHERE, ...), and
/// its code with comments removed and every literal emptied, for pattern rules: what is inside a comment, a
/// string or a dollar-quoted body never triggers a rule.
/// </summary>
public sealed record SqlStatement(IReadOnlySet<string> Kinds, string Code);

/// <summary>
/// A lexer for PostgreSQL's SQL (comments, nested block comments, standard and E'' strings, quoted identifiers,
/// dollar quoting, parameters) and the statement classification guardrails need. It reads strings as
/// standard_conforming_strings = on (PostgreSQL's default, where a backslash in '...' is an ordinary character);
/// the Postgres proxy must refuse sessions that turn it off. Not a parser: it finds each
/// statement's leading keyword, the statements inside WITH and EXPLAIN ANALYZE, and whether DELETE and
/// UPDATE have a WHERE of their own.
/// </summary>
public static class SqlStatements
{
    public const string DeleteWithoutWhere = "DELETE-WITHOUT-WHERE";
    public const string UpdateWithoutWhere = "UPDATE-WITHOUT-WHERE";

    /// <summary>The statements of a query string, split at top-level semicolons; empty statements are left out.</summary>
    public static IReadOnlyList<SqlStatement> Split(string sql)
    {
        var statements = Split(Tokenize(sql));
        if (sql.Contains('\\', StringComparison.Ordinal))
        {
            // A backslash in a plain string is where the two readings of standard_conforming_strings part: the
            // query must mean the same statements either way, whatever the session's setting really is.
            IReadOnlyList<SqlStatement>? other = null;
            try
            {
                other = Split(Tokenize(sql, null, plainStringsEscape: true));
            }
            catch (SqlSyntaxException)
            {
                // Unreadable with escapes: differs.
            }

            if (other is null || other.Count != statements.Count || other.Zip(statements).Any(p => p.First.Code != p.Second.Code))
            {
                throw new SqlSyntaxException("a backslash in a string makes this query read differently with standard_conforming_strings off; use E'...' for escapes");
            }
        }

        return statements;
    }

    private static List<SqlStatement> Split(List<SqlToken> tokens)
    {
        var statements = new List<SqlStatement>();
        var current = new List<SqlToken>();
        foreach (var token in tokens.Append(new SqlToken(SqlTokenKind.Semicolon, ";")))
        {
            if (token.Kind != SqlTokenKind.Semicolon)
            {
                current.Add(token);
                continue;
            }

            if (current.Count > 0)
            {
                var kinds = new HashSet<string>(StringComparer.Ordinal);
                Classify(current, kinds);
                statements.Add(new SqlStatement(kinds, Code(current)));
                current = [];
            }
        }

        return statements;
    }

    /// <summary>
    /// What an agent says about a query in a comment "-- justification: ..." or "/* justification: ... */", for the
    /// reviewer; null when there is none (or the query cannot be read).
    /// </summary>
    public static string? Justification(string sql)
    {
        if (sql.IndexOf("justification", StringComparison.OrdinalIgnoreCase) < 0)
        {
            return null;
        }

        var comments = new List<string>();
        try
        {
            Tokenize(sql, comments);
        }
        catch (SqlSyntaxException)
        {
            return null;
        }

        foreach (var comment in comments)
        {
            var text = comment.Trim();
            if (text.StartsWith("justification:", StringComparison.OrdinalIgnoreCase))
            {
                text = text["justification:".Length..].Trim();
                return text.Length == 0 ? null : text.Length > 1000 ? text[..1000] : text;
            }
        }

        return null;
    }

    /// <summary>The tokens of <paramref name="sql"/>; the text of each comment goes to <paramref name="comments"/> when given.</summary>
    public static List<SqlToken> Tokenize(string sql, List<string>? comments = null) => Tokenize(sql, comments, plainStringsEscape: false);

    /// <summary>
    /// <paramref name="plainStringsEscape"/>: read '...' as standard_conforming_strings = off would (backslash escapes),
    /// to tell whether a query means the same either way.
    /// </summary>
    private static List<SqlToken> Tokenize(string sql, List<string>? comments, bool plainStringsEscape)
    {
        var tokens = new List<SqlToken>();
        var i = 0;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (c is ' ' or '\t' or '\n' or '\r' or '\f' or '\v')
            {
                // PostgreSQL's whitespace only: any other character (a no-break space) is part of an identifier there.
                i++;
            }
            else if (c == '-' && At(sql, i + 1) == '-')
            {
                // PostgreSQL ends a line comment at either line break character.
                var start = i;
                while (i < sql.Length && sql[i] is not ('\n' or '\r'))
                {
                    i++;
                }

                comments?.Add(sql[(start + 2)..i]);
            }
            else if (c == '/' && At(sql, i + 1) == '*')
            {
                var start = i;
                i = SkipBlockComment(sql, i);
                comments?.Add(sql[(start + 2)..(i - 2)]);
            }
            else if (c == '\'')
            {
                i = ReadString(sql, i, backslashEscapes: plainStringsEscape, tokens);
            }
            else if (c == '"')
            {
                var end = i + 1;
                while (true)
                {
                    end = sql.IndexOf('"', end);
                    if (end < 0)
                    {
                        throw new SqlSyntaxException("unterminated quoted identifier");
                    }

                    if (At(sql, end + 1) != '"')
                    {
                        break;
                    }

                    end += 2;
                }

                tokens.Add(new SqlToken(SqlTokenKind.QuotedIdentifier, sql[(i + 1)..end].Replace("\"\"", "\"", StringComparison.Ordinal)));
                i = end + 1;
            }
            else if (c == '$' && char.IsAsciiDigit(At(sql, i + 1)))
            {
                var end = i + 1;
                while (end < sql.Length && char.IsAsciiDigit(sql[end]))
                {
                    end++;
                }

                tokens.Add(new SqlToken(SqlTokenKind.Parameter, sql[i..end]));
                i = end;
            }
            else if (c == '$' && DollarTag(sql, i) is { } tag)
            {
                var close = sql.IndexOf(tag, i + tag.Length, StringComparison.Ordinal);
                if (close < 0)
                {
                    throw new SqlSyntaxException($"unterminated dollar-quoted string at or near \"{tag}\"");
                }

                tokens.Add(new SqlToken(SqlTokenKind.String, sql[(i + tag.Length)..close]));
                i = close + tag.Length;
            }
            else if (char.IsAsciiDigit(c) || (c == '.' && char.IsAsciiDigit(At(sql, i + 1))))
            {
                // integer, decimal, or real with an exponent only when a digit follows it, as PostgreSQL reads numbers.
                var end = i;
                while (char.IsAsciiDigit(At(sql, end)))
                {
                    end++;
                }

                if (At(sql, end) == '.' && At(sql, end + 1) != '.')
                {
                    end++;
                    while (char.IsAsciiDigit(At(sql, end)))
                    {
                        end++;
                    }
                }

                if (At(sql, end) is 'e' or 'E' && (char.IsAsciiDigit(At(sql, end + 1)) || (At(sql, end + 1) is '+' or '-' && char.IsAsciiDigit(At(sql, end + 2)))))
                {
                    end += At(sql, end + 1) is '+' or '-' ? 2 : 1;
                    while (char.IsAsciiDigit(At(sql, end)))
                    {
                        end++;
                    }
                }

                if (end < sql.Length && IsIdentifierPart(sql[end]))
                {
                    // "1e--", "0x1F", "1_000": PostgreSQL versions split these differently; none is read ambiguously here.
                    throw new SqlSyntaxException($"trailing junk after numeric literal at or near \"{sql[i..Math.Min(sql.Length, end + 1)]}\"");
                }

                tokens.Add(new SqlToken(SqlTokenKind.Number, sql[i..end]));
                i = end;
            }
            else if (IsIdentifierStart(c))
            {
                var end = i;
                while (end < sql.Length && (IsIdentifierPart(sql[end]) || sql[end] == '$'))
                {
                    end++;
                }

                var word = sql[i..end];
                // E'...' is a string with backslash escapes; other prefixes (B, X, N, U&) read like plain strings.
                if (word is "E" or "e" && At(sql, end) == '\'')
                {
                    i = ReadString(sql, end, backslashEscapes: true, tokens);
                    continue;
                }

                tokens.Add(new SqlToken(SqlTokenKind.Word, word.ToUpperInvariant()));
                i = end;
            }
            else
            {
                tokens.Add(new SqlToken(c == ';' ? SqlTokenKind.Semicolon : SqlTokenKind.Symbol, c.ToString()));
                i++;
            }
        }

        return tokens;
    }

    private static char At(string text, int index) => index < text.Length ? text[index] : '\0';

    /// <summary>PostgreSQL's ident_start: ASCII letters, '_', and every non-ASCII character.</summary>
    private static bool IsIdentifierStart(char c) => char.IsAsciiLetter(c) || c == '_' || c >= '\u0080';

    private static bool IsIdentifierPart(char c) => IsIdentifierStart(c) || char.IsAsciiDigit(c);

    private static int SkipBlockComment(string sql, int start)
    {
        var depth = 0;
        var i = start;
        while (i < sql.Length)
        {
            if (sql[i] == '/' && At(sql, i + 1) == '*')
            {
                depth++;
                i += 2;
            }
            else if (sql[i] == '*' && At(sql, i + 1) == '/')
            {
                depth--;
                i += 2;
                if (depth == 0)
                {
                    return i;
                }
            }
            else
            {
                i++;
            }
        }

        throw new SqlSyntaxException("unterminated /* comment");
    }

    private static int ReadString(string sql, int quote, bool backslashEscapes, List<SqlToken> tokens)
    {
        var value = new StringBuilder();
        var i = quote + 1;
        while (i < sql.Length)
        {
            var c = sql[i];
            if (backslashEscapes && c == '\\' && i + 1 < sql.Length)
            {
                value.Append(sql[i + 1]);
                i += 2;
            }
            else if (c == '\'' && At(sql, i + 1) == '\'')
            {
                value.Append('\'');
                i += 2;
            }
            else if (c == '\'')
            {
                tokens.Add(new SqlToken(SqlTokenKind.String, value.ToString()));
                return i + 1;
            }
            else
            {
                value.Append(c);
                i++;
            }
        }

        throw new SqlSyntaxException("unterminated quoted string");
    }

    /// <summary>"$$" or "$tag$" opening a dollar-quoted string at <paramref name="start"/>, or null.</summary>
    private static string? DollarTag(string sql, int start)
    {
        var end = start + 1;
        while (end < sql.Length && IsIdentifierPart(sql[end]))
        {
            end++;
        }

        return end < sql.Length && sql[end] == '$' && !char.IsAsciiDigit(At(sql, start + 1)) ? sql[start..(end + 1)] : null;
    }

    /// <summary>Adds the kinds of the statement in <paramref name="tokens"/>, and of the statements nested in WITH, EXPLAIN ANALYZE and PREPARE.</summary>
    private static void Classify(List<SqlToken> tokens, HashSet<string> kinds)
    {
        var start = 0;
        while (start < tokens.Count && tokens[start].Kind == SqlTokenKind.Symbol && tokens[start].Text == "(")
        {
            start++; // (SELECT ...) UNION ...
        }

        if (start >= tokens.Count || tokens[start].Kind != SqlTokenKind.Word)
        {
            kinds.Add("OTHER");
            return;
        }

        var first = tokens[start].Text;
        if (first == "WITH")
        {
            // Each CTE body "name AS [NOT] [MATERIALIZED] ( ... )" is a statement of its own; then the main one.
            var i = start + 1;
            while (i < tokens.Count)
            {
                if (tokens[i] is { Kind: SqlTokenKind.Symbol, Text: "(" } && i > 0 && IsCteOpening(tokens, i))
                {
                    var close = Matching(tokens, i);
                    Classify(tokens[(i + 1)..close], kinds);
                    i = close + 1;
                }
                else if (tokens[i] is { Kind: SqlTokenKind.Word, Text: "SELECT" or "INSERT" or "UPDATE" or "DELETE" or "MERGE" or "VALUES" or "TABLE" })
                {
                    Classify(tokens[i..], kinds);
                    return;
                }
                else
                {
                    i = tokens[i] is { Kind: SqlTokenKind.Symbol, Text: "(" } ? Matching(tokens, i) + 1 : i + 1;
                }
            }

            kinds.Add("WITH");
            return;
        }

        if (first == "PREPARE")
        {
            // PREPARE name [(types)] AS statement: what EXECUTE will run is checked now.
            kinds.Add("PREPARE");
            var depth = 0;
            for (var i = start + 1; i < tokens.Count; i++)
            {
                depth += tokens[i] is { Kind: SqlTokenKind.Symbol, Text: "(" } ? 1 : tokens[i] is { Kind: SqlTokenKind.Symbol, Text: ")" } ? -1 : 0;
                if (depth == 0 && tokens[i] is { Kind: SqlTokenKind.Word, Text: "AS" })
                {
                    Classify(tokens[(i + 1)..], kinds);
                    break;
                }
            }

            return;
        }

        if (first == "EXPLAIN")
        {
            kinds.Add("EXPLAIN");
            var i = start + 1;
            var analyze = false;
            while (i < tokens.Count && (tokens[i].Text is "ANALYZE" or "ANALYSE" or "VERBOSE" || tokens[i] is { Kind: SqlTokenKind.Symbol, Text: "(" }))
            {
                if (tokens[i].Text == "(")
                {
                    var close = Matching(tokens, i);
                    analyze |= tokens[i..close].Any(t => t.Text is "ANALYZE" or "ANALYSE");
                    i = close + 1;
                    continue;
                }

                analyze |= tokens[i].Text is "ANALYZE" or "ANALYSE";
                i++;
            }

            // EXPLAIN ANALYZE runs the statement.
            if (analyze && i < tokens.Count)
            {
                Classify(tokens[i..], kinds);
            }

            return;
        }

        kinds.Add(first);
        if (first == "COPY" && start + 1 < tokens.Count && tokens[start + 1] is { Kind: SqlTokenKind.Symbol, Text: "(" })
        {
            // COPY (query) TO ...: the query runs, and may be a DELETE ... RETURNING.
            Classify(tokens[(start + 2)..Matching(tokens, start + 1)], kinds);
        }

        if (first is "DELETE" or "UPDATE" && !HasOwnWhere(tokens, start))
        {
            kinds.Add(first == "DELETE" ? DeleteWithoutWhere : UpdateWithoutWhere);
        }
    }

    private static bool IsCteOpening(List<SqlToken> tokens, int open)
    {
        var i = open - 1;
        if (tokens[i].Text == "MATERIALIZED")
        {
            i--;
            if (i >= 0 && tokens[i].Text == "NOT")
            {
                i--;
            }
        }

        return i >= 0 && tokens[i] is { Kind: SqlTokenKind.Word, Text: "AS" };
    }

    /// <summary>The index of the ")" closing the "(" at <paramref name="open"/> (the last token when unbalanced).</summary>
    private static int Matching(List<SqlToken> tokens, int open)
    {
        var depth = 0;
        for (var i = open; i < tokens.Count; i++)
        {
            if (tokens[i].Kind != SqlTokenKind.Symbol)
            {
                continue;
            }

            depth += tokens[i].Text switch { "(" => 1, ")" => -1, _ => 0 };
            if (depth == 0)
            {
                return i;
            }
        }

        return tokens.Count - 1;
    }

    /// <summary>A WHERE at the statement's own level (one inside a subquery does not limit the rows changed).</summary>
    private static bool HasOwnWhere(List<SqlToken> tokens, int start)
    {
        var depth = 0;
        for (var i = start; i < tokens.Count; i++)
        {
            var t = tokens[i];
            if (t.Kind == SqlTokenKind.Symbol)
            {
                depth += t.Text switch { "(" => 1, ")" => -1, _ => 0 };
            }
            else if (depth == 0 && t is { Kind: SqlTokenKind.Word, Text: "WHERE" })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The statement rebuilt from its tokens: comments gone, literals emptied, one space between tokens.</summary>
    private static string Code(List<SqlToken> tokens) => string.Join(' ', tokens.Select(t => t.Kind switch
    {
        SqlTokenKind.String => "''",
        SqlTokenKind.QuotedIdentifier => $"\"{t.Text}\"",
        _ => t.Text,
    }));
}
