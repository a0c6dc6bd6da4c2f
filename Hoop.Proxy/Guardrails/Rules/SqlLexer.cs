using System.Text;

namespace Hoop.Proxy.Guardrails.Rules;

internal enum SqlTokenKind
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
internal readonly record struct SqlToken(SqlTokenKind Kind, string Text);

/// <summary>SQL that cannot be split into tokens (an unterminated string, comment or dollar quote).</summary>
internal sealed class SqlSyntaxException(string message) : Exception(message);

/// <summary>
/// PostgreSQL's lexical grammar, as far as guardrails need it: words, symbols, numbers, comments (nested block
/// comments too), '...' strings, E'...' strings with backslash escapes, dollar-quoted bodies and quoted identifiers.
/// What is inside a comment or a literal is never code.
/// </summary>
internal static class SqlLexer
{
    /// <summary>The tokens of <paramref name="sql"/>; the text of each comment goes to <paramref name="comments"/> when given.</summary>
    public static List<SqlToken> Tokenize(string sql, List<string>? comments = null) => Tokenize(sql, comments, plainStringsEscape: false);

    /// <summary>
    /// <paramref name="plainStringsEscape"/>: read '...' as standard_conforming_strings = off would (backslash escapes),
    /// to tell whether a query means the same either way.
    /// </summary>
    internal static List<SqlToken> Tokenize(string sql, List<string>? comments, bool plainStringsEscape)
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
}
