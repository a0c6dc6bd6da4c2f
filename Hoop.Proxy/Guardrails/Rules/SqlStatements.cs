using static Hoop.Proxy.Guardrails.Rules.SqlTokenList;

namespace Hoop.Proxy.Guardrails.Rules;

/// <summary>
/// One statement of a query string: the kinds guardrails match on (DROP, DELETE, DELETE-WITHOUT-WHERE, ...), and
/// its code with comments removed and every literal emptied, for pattern rules: what is inside a comment, a
/// string or a dollar-quoted body never triggers a rule.
/// </summary>
internal sealed record SqlStatement(IReadOnlySet<string> Kinds, string Code);

/// <summary>
/// A lexer for PostgreSQL's SQL (comments, nested block comments, standard and E'' strings, quoted identifiers,
/// dollar quoting, parameters) and the statement classification guardrails need. It reads strings as
/// standard_conforming_strings = on (PostgreSQL's default, where a backslash in '...' is an ordinary character);
/// the Postgres proxy must refuse sessions that turn it off. Not a parser: it finds each statement's leading
/// keyword, what the statement does (a MERGE's actions, TRUNCATE as a DELETE of every row, SELECT INTO as a
/// CREATE), the statements nested in it, whether a DELETE or UPDATE is bounded by a condition that names a
/// column, and whether it runs SQL it cannot read (<see cref="Opaque"/>). docs/sql-guardrails.md has the table.
/// </summary>
internal static class SqlStatements
{
    public const string DeleteWithoutWhere = "DELETE-WITHOUT-WHERE";
    public const string UpdateWithoutWhere = "UPDATE-WITHOUT-WHERE";

    /// <summary>The statements of a query string, split at top-level semicolons; empty statements are left out.</summary>
    public static IReadOnlyList<SqlStatement> Split(string sql)
    {
        var statements = Split(SqlLexer.Tokenize(sql));
        if (sql.Contains('\\', StringComparison.Ordinal))
        {
            // A backslash in a plain string is where the two readings of standard_conforming_strings part: the
            // query must mean the same statements either way, whatever the session's setting really is.
            IReadOnlyList<SqlStatement>? other = null;
            try
            {
                other = Split(SqlLexer.Tokenize(sql, null, plainStringsEscape: true));
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
            SqlLexer.Tokenize(sql, comments);
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

    /// <summary>
    /// What runs SQL the lexer cannot read, now or later: a DO block, a function or procedure call or body, a rule
    /// or trigger, an extension's script, a shell program, and a prepared statement run by EXECUTE (its text was
    /// checked at its PREPARE, not here).
    /// </summary>
    public const string Opaque = "OPAQUE";

    /// <summary>Functions that run the SQL text they are given as a string (contrib dblink and the SQL/XML query functions).</summary>
    private static readonly HashSet<string> SqlTextFunctions =
        ["DBLINK", "DBLINK_EXEC", "DBLINK_OPEN", "DBLINK_SEND_QUERY", "QUERY_TO_XML", "QUERY_TO_XMLSCHEMA", "QUERY_TO_XML_AND_XMLSCHEMA"];

    /// <summary>Reserved words a condition may hold without referring to a row: constants, operators spelled as words, niladic functions.</summary>
    private static readonly HashSet<string> ConstantWords =
    [
        "TRUE", "FALSE", "NULL", "AND", "OR", "NOT", "IS", "DISTINCT", "FROM", "BETWEEN", "SYMMETRIC", "ASYMMETRIC", "IN", "LIKE", "ILIKE",
        "SIMILAR", "TO", "CASE", "WHEN", "THEN", "ELSE", "END", "AS", "ISNULL", "NOTNULL", "ANY", "ALL", "SOME", "ARRAY", "SELECT", "CAST",
        "COLLATE", "CURRENT_DATE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "LOCALTIME", "LOCALTIMESTAMP", "CURRENT_USER", "CURRENT_ROLE",
        "SESSION_USER", "USER", "CURRENT_CATALOG", "CURRENT_SCHEMA", "INTERVAL",
    ];

    /// <summary>Words that go on with a type name after its first word: double precision, character varying, time with time zone.</summary>
    private static readonly HashSet<string> TypeNameWords = ["PRECISION", "VARYING", "WITH", "WITHOUT", "TIME", "ZONE"];

    /// <summary>Words between CREATE and the kind of object it creates.</summary>
    private static readonly HashSet<string> CreateModifiers =
        ["OR", "REPLACE", "TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL", "CONSTRAINT", "TRUSTED", "PROCEDURAL", "UNIQUE", "RECURSIVE", "DEFAULT"];

    /// <summary>
    /// Adds the kinds of the statement in <paramref name="tokens"/>: its leading keyword, the kinds of what it does
    /// (a MERGE's actions, TRUNCATE as a DELETE of every row, SELECT INTO as a CREATE, ...) and of the statements
    /// nested in it (WITH, EXPLAIN ANALYZE, PREPARE, COPY (query), CREATE TABLE AS, DECLARE, CREATE SCHEMA).
    /// The table of forms and their kinds is in docs/sql-guardrails.md.
    /// </summary>
    private static void Classify(List<SqlToken> tokens, HashSet<string> kinds)
    {
        for (var i = 0; i + 1 < tokens.Count; i++)
        {
            if (tokens[i].Kind == SqlTokenKind.Word && SqlTextFunctions.Contains(tokens[i].Text) && IsSymbol(tokens, i + 1, "("))
            {
                kinds.Add(Opaque);
            }
        }

        var start = 0;
        while (IsSymbol(tokens, start, "("))
        {
            start++; // (SELECT ...) UNION ...
        }

        if (start >= tokens.Count || tokens[start].Kind != SqlTokenKind.Word)
        {
            kinds.Add("OTHER");
            return;
        }

        var first = tokens[start].Text;
        switch (first)
        {
            case "WITH":
                ClassifyWith(tokens, start, kinds);
                return;
            case "PREPARE":
                ClassifyPrepare(tokens, start, kinds);
                return;
            case "EXPLAIN":
                ClassifyExplain(tokens, start, kinds);
                return;
        }

        kinds.Add(first);
        switch (first)
        {
            case "SELECT" when IndexAtTop(tokens, start, "INTO") >= 0:
                kinds.Add("CREATE"); // SELECT ... INTO creates a table and fills it.
                break;
            case "TABLE":
                kinds.Add("SELECT"); // TABLE t is SELECT * FROM t.
                break;
            case "DELETE" or "UPDATE":
                if (!BoundedByWhere(tokens, start))
                {
                    kinds.Add(WithoutWhere(first));
                }

                break;
            case "INSERT":
                ClassifyInsert(tokens, start, kinds);
                break;
            case "MERGE":
                ClassifyMerge(tokens, start, kinds);
                break;
            case "TRUNCATE":
                kinds.Add("DELETE");
                kinds.Add(DeleteWithoutWhere);
                break;
            case "COPY":
                ClassifyCopy(tokens, start, kinds);
                break;
            case "DO" or "CALL" or "EXECUTE" or "LOAD":
                kinds.Add(Opaque);
                break;
            case "CREATE":
                ClassifyCreate(tokens, start, kinds);
                break;
            case "ALTER" when IsWord(tokens, start + 1, "EXTENSION"):
                kinds.Add(Opaque); // ALTER EXTENSION ... UPDATE runs the extension's scripts.
                break;
            case "ALTER" when IsWord(tokens, start + 1, "DEFAULT") && IsWord(tokens, start + 2, "PRIVILEGES"):
                foreach (var grant in TopLevel(tokens, start + 3).Where(i => tokens[i].Text is "GRANT" or "REVOKE"))
                {
                    kinds.Add(tokens[grant].Text);
                }

                break;
            case "DECLARE" when IndexAtTop(tokens, start, "FOR") is var query and >= 0:
                Classify(tokens[(query + 1)..], kinds); // DECLARE c CURSOR FOR query
                break;
        }
    }

    private static string WithoutWhere(string kind) => kind == "DELETE" ? DeleteWithoutWhere : UpdateWithoutWhere;

    /// <summary>Each CTE body "name AS [NOT] [MATERIALIZED] ( ... )" is a statement of its own; then the main one.</summary>
    private static void ClassifyWith(List<SqlToken> tokens, int start, HashSet<string> kinds)
    {
        var i = start + 1;
        while (i < tokens.Count)
        {
            if (IsSymbol(tokens, i, "(") && IsCteOpening(tokens, i))
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
                i = IsSymbol(tokens, i, "(") ? Matching(tokens, i) + 1 : i + 1;
            }
        }

        kinds.Add("WITH");
    }

    /// <summary>PREPARE name [(types)] AS statement: what EXECUTE will run is checked now.</summary>
    private static void ClassifyPrepare(List<SqlToken> tokens, int start, HashSet<string> kinds)
    {
        kinds.Add("PREPARE");
        if (IndexAtTop(tokens, start + 1, "AS") is var statement and >= 0)
        {
            Classify(tokens[(statement + 1)..], kinds);
        }
    }

    /// <summary>EXPLAIN ANALYZE runs the statement; a plain EXPLAIN only plans it.</summary>
    private static void ClassifyExplain(List<SqlToken> tokens, int start, HashSet<string> kinds)
    {
        kinds.Add("EXPLAIN");
        var i = start + 1;
        var analyze = false;
        while (i < tokens.Count && (tokens[i].Text is "ANALYZE" or "ANALYSE" or "VERBOSE" || IsSymbol(tokens, i, "(")))
        {
            if (IsSymbol(tokens, i, "("))
            {
                // Any mention of ANALYZE in the options counts, even "ANALYZE false": the cautious reading.
                var close = Matching(tokens, i);
                analyze |= tokens[i..close].Any(t => t.Text is "ANALYZE" or "ANALYSE");
                i = close + 1;
                continue;
            }

            analyze |= tokens[i].Text is "ANALYZE" or "ANALYSE";
            i++;
        }

        if (analyze && i < tokens.Count)
        {
            Classify(tokens[i..], kinds);
        }
    }

    /// <summary>
    /// INSERT ... ON CONFLICT ... DO UPDATE also updates the rows its own rows collide with. Fed by a query (not
    /// VALUES) and with no WHERE of its own, that can be every row of the table: an UPDATE without WHERE.
    /// </summary>
    private static void ClassifyInsert(List<SqlToken> tokens, int start, HashSet<string> kinds)
    {
        var conflict = IndexAtTop(tokens, start, "CONFLICT");
        if (conflict < 0 || IndexAtTop(tokens, conflict, "DO") is not (var action and >= 0) || !IsWord(tokens, action + 1, "UPDATE"))
        {
            return;
        }

        kinds.Add("UPDATE");
        var values = IndexAtTop(tokens, start, "VALUES");
        var fromQuery = values < 0 || values > conflict;
        var where = IndexAtTop(tokens, action, "WHERE");
        if (fromQuery && (where < 0 || IsConstant(tokens, where + 1, EndOfCondition(tokens, where + 1))))
        {
            kinds.Add(UpdateWithoutWhere);
        }
    }

    /// <summary>
    /// MERGE INTO target USING source ON join WHEN [NOT] MATCHED [BY SOURCE | BY TARGET] [AND condition] THEN
    /// UPDATE | DELETE | INSERT | DO NOTHING, ...: the kinds of the actions it can take. A matched row is bounded by
    /// the join (or the clause's own condition); a row "not matched by source" only by the clause's condition. An
    /// UPDATE or DELETE with no bound (a constant join such as ON true, or none) counts as one without WHERE.
    /// </summary>
    private static void ClassifyMerge(List<SqlToken> tokens, int start, HashSet<string> kinds)
    {
        var usingAt = IndexAtTop(tokens, start, "USING");
        var on = usingAt < 0 ? -1 : IndexAtTop(tokens, usingAt, "ON");
        List<int> clauses = on < 0 ? [] : TopLevel(tokens, on)
            .Where(i => tokens[i].Text == "WHEN" && (IsWord(tokens, i + 1, "MATCHED") || (IsWord(tokens, i + 1, "NOT") && IsWord(tokens, i + 2, "MATCHED"))))
            .ToList();
        if (clauses.Count == 0)
        {
            AnyAction();
            return;
        }

        var joinIsConstant = IsConstant(tokens, on + 1, clauses[0]);
        for (var c = 0; c < clauses.Count; c++)
        {
            var end = c + 1 < clauses.Count ? clauses[c + 1] : tokens.Count;
            var i = clauses[c] + 1;
            var matched = !IsWord(tokens, i, "NOT");
            i += matched ? 1 : 2;
            if (IsWord(tokens, i, "BY"))
            {
                i += 2; // BY SOURCE (never matched, so never bounded by the join) or BY TARGET (an INSERT)
            }

            var then = IndexAtTop(tokens, i, "THEN");
            if (then < 0 || then >= end)
            {
                AnyAction();
                return;
            }

            var bounded = (IsWord(tokens, i, "AND") && !IsConstant(tokens, i + 1, then)) || (matched && !joinIsConstant);
            switch (then + 1 < tokens.Count ? tokens[then + 1].Text : "")
            {
                case "INSERT":
                    kinds.Add("INSERT");
                    break;
                case var action and ("UPDATE" or "DELETE"):
                    kinds.Add(action);
                    if (!bounded)
                    {
                        kinds.Add(WithoutWhere(action));
                    }

                    break;
                case "DO":
                    break; // DO NOTHING
                default:
                    AnyAction();
                    return;
            }
        }

        // A MERGE Hoop cannot follow counts as every action it might take.
        void AnyAction() => kinds.UnionWith(["INSERT", "UPDATE", "DELETE", UpdateWithoutWhere, DeleteWithoutWhere]);
    }

    /// <summary>COPY t FROM inserts rows, COPY t TO reads them; COPY (query) runs the query; PROGRAM runs a shell command.</summary>
    private static void ClassifyCopy(List<SqlToken> tokens, int start, HashSet<string> kinds)
    {
        var query = IsSymbol(tokens, start + 1, "(");
        if (query)
        {
            Classify(tokens[(start + 2)..Matching(tokens, start + 1)], kinds);
        }

        var direction = TopLevel(tokens, start + 1).FirstOrDefault(i => tokens[i].Text is "FROM" or "TO", -1);
        if (direction >= 0 && !query)
        {
            kinds.Add(tokens[direction].Text == "FROM" ? "INSERT" : "SELECT");
        }

        if (direction >= 0 && IsWord(tokens, direction + 1, "PROGRAM"))
        {
            kinds.Add(Opaque);
        }
    }

    /// <summary>
    /// CREATE of code (function, procedure, trigger, rule, language, extension, transform) is opaque; CREATE TABLE
    /// AS and CREATE MATERIALIZED VIEW run their query now; CREATE SCHEMA may hold CREATE and GRANT statements.
    /// </summary>
    private static void ClassifyCreate(List<SqlToken> tokens, int start, HashSet<string> kinds)
    {
        var i = start + 1;
        while (i < tokens.Count && tokens[i].Kind == SqlTokenKind.Word && CreateModifiers.Contains(tokens[i].Text))
        {
            i++;
        }

        switch (i < tokens.Count ? tokens[i].Text : "")
        {
            case "FUNCTION" or "PROCEDURE" or "TRIGGER" or "RULE" or "LANGUAGE" or "EXTENSION" or "TRANSFORM" or "EVENT":
                kinds.Add(Opaque);
                break;
            case "TABLE" or "MATERIALIZED" when IndexAtTop(tokens, i, "AS") is var query and >= 0:
                Classify(tokens[(query + 1)..], kinds);
                break;
            case "SCHEMA":
                var elements = TopLevel(tokens, i).Where(e => tokens[e].Text is "CREATE" or "GRANT").Append(tokens.Count).ToList();
                for (var e = 0; e + 1 < elements.Count; e++)
                {
                    Classify(tokens[elements[e]..elements[e + 1]], kinds);
                }

                break;
        }
    }

    private static bool IsCteOpening(List<SqlToken> tokens, int open)
    {
        var i = open - 1;
        if (i >= 0 && tokens[i].Text == "MATERIALIZED")
        {
            i--;
            if (i >= 0 && tokens[i].Text == "NOT")
            {
                i--;
            }
        }

        return i >= 0 && tokens[i] is { Kind: SqlTokenKind.Word, Text: "AS" };
    }

    /// <summary>Whether a DELETE or UPDATE has a WHERE of its own (one inside a subquery does not limit the rows changed) that is not constant.</summary>
    private static bool BoundedByWhere(List<SqlToken> tokens, int start)
    {
        var where = IndexAtTop(tokens, start, "WHERE");
        return where >= 0 && !IsConstant(tokens, where + 1, EndOfCondition(tokens, where + 1));
    }

    private static int EndOfCondition(List<SqlToken> tokens, int from) => IndexAtTop(tokens, from, "RETURNING") is var end and >= 0 ? end : tokens.Count;

    /// <summary>
    /// Whether the condition in tokens [<paramref name="from"/>, <paramref name="to"/>) names no column: only
    /// literals, parameters, operators, reserved words, function calls and types (true, 1 = 1, now() IS NOT NULL).
    /// Such a condition keeps every row or none. Any column counts as a bound, even in a tautology (id = id).
    /// </summary>
    private static bool IsConstant(List<SqlToken> tokens, int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            var t = tokens[i];
            if (t.Kind is not (SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier)
                || (t.Kind == SqlTokenKind.Word && ConstantWords.Contains(t.Text))
                || IsSymbol(tokens, i + 1, "(")
                || (i + 1 < to && tokens[i + 1].Kind == SqlTokenKind.String))
            {
                continue; // not a name, a reserved word, a function's name, or a typed literal (date '2026-01-01')
            }

            if (IsSymbol(tokens, i + 1, ".") && i + 2 < to && tokens[i + 2].Kind is SqlTokenKind.Word or SqlTokenKind.QuotedIdentifier && IsSymbol(tokens, i + 3, "("))
            {
                i += 2; // schema.function(
                continue;
            }

            if ((IsSymbol(tokens, i - 1, ":") && IsSymbol(tokens, i - 2, ":")) || IsWord(tokens, i - 1, "AS"))
            {
                // A type after :: or CAST(... AS, and the words that go on with it.
                while (i + 1 < to && tokens[i + 1].Kind == SqlTokenKind.Word && TypeNameWords.Contains(tokens[i + 1].Text))
                {
                    i++;
                }

                continue;
            }

            return false;
        }

        return true;
    }
}
