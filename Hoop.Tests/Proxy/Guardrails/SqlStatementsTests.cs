using Hoop.Proxy.Guardrails;

namespace Hoop.Tests.Proxy.Guardrails;

/// <summary>The SQL lexer and statement kinds SQL guardrails match on: what is code, and what is only text.</summary>
public sealed class SqlStatementsTests
{
    [Theory]
    [InlineData("drop table users", "DROP")]
    [InlineData("TRUNCATE audit_log", "TRUNCATE")]
    [InlineData("alter table t add column c int", "ALTER")]
    [InlineData("grant select on t to bob", "GRANT")]
    [InlineData("delete from orders", "DELETE DELETE-WITHOUT-WHERE")]
    [InlineData("DELETE FROM orders WHERE id = 7", "DELETE")]
    [InlineData("delete from orders where id in (select id from old)", "DELETE")]
    [InlineData("update t set a = (select b from u where u.id = 1)", "UPDATE UPDATE-WITHOUT-WHERE")]
    [InlineData("update t set a = 1 where id = $1", "UPDATE")]
    [InlineData("with gone as (delete from t returning *) select * from gone", "DELETE DELETE-WITHOUT-WHERE SELECT")]
    [InlineData("with x as materialized (select 1) update t set a = 1", "SELECT UPDATE UPDATE-WITHOUT-WHERE")]
    [InlineData("explain delete from t", "EXPLAIN")]
    [InlineData("explain (analyze, buffers) delete from t", "EXPLAIN DELETE DELETE-WITHOUT-WHERE")]
    [InlineData("(select 1) union (select 2)", "SELECT")]
    public void Statement_HasItsKinds(string sql, string kinds)
    {
        var statement = Assert.Single(SqlStatements.Split(sql));

        Assert.Equal(kinds.Split(' ').Order(), statement.Kinds.Order());
    }

    [Theory]
    [InlineData("select 1 -- drop table users")]
    [InlineData("select 1 /* drop table users; /* nested */ still a comment; delete from t */")]
    [InlineData("select 'drop table users; delete from t'")]
    [InlineData("select 'it''s; drop table users'")]
    [InlineData("select E'\\'; drop table users; --'")]
    [InlineData("select $$; drop table users; $$")]
    [InlineData("select $fn$ $$ ; drop table users; $fn$")]
    [InlineData("select \"drop table users;\" from t")]
    public void CommentsStringsAndDollarQuotes_AreNotCode(string sql)
    {
        var statement = Assert.Single(SqlStatements.Split(sql));

        Assert.Equal(["SELECT"], statement.Kinds);
        Assert.DoesNotContain("DROP", statement.Code.Replace("\"DROP TABLE USERS;\"", "", StringComparison.OrdinalIgnoreCase), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void ALineCommentEndsAtACarriageReturnToo()
    {
        var statements = SqlStatements.Split("select 1; -- note\rDROP TABLE users");

        Assert.Equal(["DROP"], statements[1].Kinds);
    }

    [Fact]
    public void MultiStatementQuery_IsCheckedStatementByStatement()
    {
        var statements = SqlStatements.Split("select 1; ; DROP TABLE users; delete from t where id = $1;");

        Assert.Equal(3, statements.Count);
        Assert.Equal(["SELECT"], statements[0].Kinds);
        Assert.Equal(["DROP"], statements[1].Kinds);
        Assert.Equal(["DELETE"], statements[2].Kinds);
        Assert.Equal("DELETE FROM T WHERE ID = $1", statements[2].Code);
    }

    [Theory]
    [InlineData("select 'unterminated", "quoted string")]
    [InlineData("select 1 /* open", "comment")]
    [InlineData("select $tag$ open", "dollar-quoted")]
    [InlineData("select \"open", "quoted identifier")]
    public void Unterminated_IsASyntaxError(string sql, string what)
    {
        Assert.Contains(what, Assert.Throws<SqlSyntaxException>(() => SqlStatements.Split(sql)).Message);
    }

    [Theory]
    [InlineData("SELECT 1 AS \u20ac$$; DROP TABLE accounts; SELECT 1 AS \u20ac$$")] // a non-ASCII identifier may hold '$'
    [InlineData("SELECT 1 AS \u00a0$$; DROP TABLE accounts; SELECT 1 AS \u00a0$$")] // a no-break space is no whitespace to PostgreSQL
    [InlineData("SELECT $\u00e9$ x $\u00e9$; DROP TABLE accounts")] // a non-ASCII dollar-quote tag
    public void NonAsciiIdentifiers_AreReadAsPostgreSqlReadsThem(string sql)
    {
        Assert.Contains(SqlStatements.Split(sql), s => s.Kinds.Contains("DROP"));
    }

    [Theory]
    [InlineData("SELECT 1e--'\n; DELETE FROM accounts; SELECT '--'")]
    [InlineData("SELECT 0x1F")]
    [InlineData("SELECT 1_000")]
    public void NumbersRunIntoLetters_AreRefused(string sql)
    {
        Assert.Throws<SqlSyntaxException>(() => SqlStatements.Split(sql));
    }

    [Fact]
    public void ABackslashThatChangesTheStatements_IsRefused_OneThatDoesNot_Passes()
    {
        Assert.Throws<SqlSyntaxException>(() => SqlStatements.Split("SELECT '\\', '; DROP TABLE accounts; --'"));
        Assert.Single(SqlStatements.Split("SELECT 'C:\\temp' LIKE 'a\\_b'"));
        Assert.Single(SqlStatements.Split("SELECT E'it\\'s'"));
    }

    [Fact]
    public void CopyOfAQuery_HasTheQuerysKinds()
    {
        var statement = Assert.Single(SqlStatements.Split("COPY (DELETE FROM accounts RETURNING id) TO STDOUT"));

        Assert.Contains("DELETE", statement.Kinds);
        Assert.Contains(SqlStatements.DeleteWithoutWhere, statement.Kinds);
    }
}
