namespace Hoop.Proxy.Guardrails.Rules;

/// <summary>Finding one's way in a statement's tokens: words and symbols, matching parentheses, the top level, the code.</summary>
internal static class SqlTokenList
{
    public static bool IsSymbol(List<SqlToken> tokens, int index, string symbol) =>
        index >= 0 && index < tokens.Count && tokens[index].Kind == SqlTokenKind.Symbol && tokens[index].Text == symbol;

    public static bool IsWord(List<SqlToken> tokens, int index, string word) =>
        index >= 0 && index < tokens.Count && tokens[index].Kind == SqlTokenKind.Word && tokens[index].Text == word;

    /// <summary>The index of the ")" closing the "(" at <paramref name="open"/> (the last token when unbalanced).</summary>
    public static int Matching(List<SqlToken> tokens, int open)
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

    /// <summary>
    /// The words of the statement's own level from <paramref name="from"/> on: outside parentheses (subqueries,
    /// argument lists) and outside CASE ... END (whose WHEN and THEN are not the statement's).
    /// </summary>
    public static IEnumerable<int> TopLevel(List<SqlToken> tokens, int from)
    {
        var depth = 0;
        var cases = 0;
        for (var i = from; i < tokens.Count; i++)
        {
            var t = tokens[i];
            if (t.Kind == SqlTokenKind.Symbol)
            {
                depth += t.Text switch { "(" => 1, ")" => -1, _ => 0 };
            }
            else if (t.Kind == SqlTokenKind.Word && depth == 0)
            {
                if (t.Text == "CASE")
                {
                    cases++;
                }
                else if (t.Text == "END" && cases > 0)
                {
                    cases--;
                }
                else if (cases == 0)
                {
                    yield return i;
                }
            }
        }
    }

    public static int IndexAtTop(List<SqlToken> tokens, int from, string word) => TopLevel(tokens, from).FirstOrDefault(i => tokens[i].Text == word, -1);

    /// <summary>The statement rebuilt from its tokens: comments gone, literals emptied, one space between tokens.</summary>
    public static string Code(List<SqlToken> tokens) => string.Join(' ', tokens.Select(t => t.Kind switch
    {
        SqlTokenKind.String => "''",
        SqlTokenKind.QuotedIdentifier => $"\"{t.Text}\"",
        _ => t.Text,
    }));
}
