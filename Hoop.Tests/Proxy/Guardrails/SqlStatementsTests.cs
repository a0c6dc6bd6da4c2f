using Hoop.Proxy.Guardrails.Rules;

namespace Hoop.Tests.Proxy.Guardrails;

/// <summary>The SQL lexer and statement kinds SQL guardrails match on: what is code, and what is only text.</summary>
public sealed class SqlStatementsTests
{
    [Theory]
    [InlineData("drop table users", "DROP")]
    [InlineData("TRUNCATE audit_log", "TRUNCATE DELETE DELETE-WITHOUT-WHERE")]
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

    /// <summary>
    /// Every statement form PostgreSQL 15-17 accepts that changes what a rule sees, with its kinds: what it does
    /// (MERGE by its actions, TRUNCATE as a DELETE of every row), what is nested in it, and OPAQUE where it runs SQL
    /// the lexer cannot read. The same table is in docs/sql-guardrails.md.
    /// </summary>
    [Theory]
    // MERGE: by the actions it can take; an UPDATE or DELETE no condition bounds counts as one without WHERE.
    [InlineData("MERGE INTO orders o USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE", "MERGE DELETE DELETE-WITHOUT-WHERE")]
    [InlineData("merge into orders o using (select 1 as x) s on 1 = 1 when matched then update set amount = 0", "MERGE UPDATE UPDATE-WITHOUT-WHERE")]
    [InlineData("MERGE INTO t USING s ON true::boolean WHEN MATCHED THEN DELETE", "MERGE DELETE DELETE-WITHOUT-WHERE")]
    [InlineData("MERGE INTO t USING s ON now() IS NOT NULL WHEN MATCHED THEN UPDATE SET a = CASE WHEN a > 1 THEN 0 ELSE 1 END WHEN NOT MATCHED THEN DO NOTHING",
        "MERGE UPDATE UPDATE-WITHOUT-WHERE")]
    [InlineData("merge into orders o using new_orders n on o.id = n.id when matched then update set amount = n.amount when not matched then insert values (n.id, n.amount)",
        "MERGE UPDATE INSERT")]
    [InlineData("MERGE INTO orders o USING (SELECT 1) s ON true WHEN MATCHED AND o.id = 7 THEN DELETE", "MERGE DELETE")]
    [InlineData("MERGE INTO orders o USING src s ON o.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE", "MERGE DELETE DELETE-WITHOUT-WHERE")]
    [InlineData("MERGE INTO orders o USING src s ON o.id = s.id WHEN NOT MATCHED BY SOURCE AND o.amount < 0 THEN DELETE", "MERGE DELETE")]
    [InlineData("MERGE INTO t USING s ON t.id = s.id WHEN NOT MATCHED BY TARGET THEN INSERT DEFAULT VALUES WHEN MATCHED THEN DO NOTHING", "MERGE INSERT")]
    [InlineData("MERGE INTO t USING s", "MERGE INSERT UPDATE DELETE UPDATE-WITHOUT-WHERE DELETE-WITHOUT-WHERE")]
    [InlineData("with x as (merge into t using s on true when matched then delete returning *) select * from x", "MERGE DELETE DELETE-WITHOUT-WHERE SELECT")]
    [InlineData("explain analyze merge into t using s on true when matched then delete", "EXPLAIN MERGE DELETE DELETE-WITHOUT-WHERE")]
    [InlineData("prepare wipe (int) as merge into t using s on true when matched then delete", "PREPARE MERGE DELETE DELETE-WITHOUT-WHERE")]
    // DELETE and UPDATE: a WHERE that names no column keeps every row.
    [InlineData("delete from orders where true", "DELETE DELETE-WITHOUT-WHERE")]
    [InlineData("delete from orders where 1 = 1 returning id", "DELETE DELETE-WITHOUT-WHERE")]
    [InlineData("update t set a = 1 where now() is not null and $1", "UPDATE UPDATE-WITHOUT-WHERE")]
    [InlineData("delete from t where current of c", "DELETE")]
    [InlineData("delete from events where date < date '2020-01-01'", "DELETE")]
    [InlineData("delete from t where id::text = '1'", "DELETE")]
    [InlineData("update t set a = 1 from u where t.id = u.id returning *", "UPDATE")]
    // INSERT ... ON CONFLICT DO UPDATE updates too; fed by a query with no WHERE it may update every row.
    [InlineData("insert into t values (1)", "INSERT")]
    [InlineData("insert into t values (1) on conflict do nothing", "INSERT")]
    [InlineData("insert into t values (1) on conflict (id) do update set a = excluded.a", "INSERT UPDATE")]
    [InlineData("insert into t select * from u on conflict (id) do update set a = excluded.a", "INSERT UPDATE UPDATE-WITHOUT-WHERE")]
    [InlineData("insert into t select * from u on conflict (id) do update set a = excluded.a where t.a < excluded.a", "INSERT UPDATE")]
    // What deletes every row, reads or creates tables.
    [InlineData("truncate orders", "TRUNCATE DELETE DELETE-WITHOUT-WHERE")]
    [InlineData("TRUNCATE TABLE ONLY orders, customers RESTART IDENTITY CASCADE", "TRUNCATE DELETE DELETE-WITHOUT-WHERE")]
    [InlineData("table orders", "TABLE SELECT")]
    [InlineData("values (1), (2)", "VALUES")]
    [InlineData("select * into backup from orders", "SELECT CREATE")]
    [InlineData("with x as (select 1) select * into y from x", "SELECT CREATE")]
    [InlineData("select * from orders for update", "SELECT")]
    [InlineData("create table copy as select * from orders", "CREATE SELECT")]
    [InlineData("create unlogged table t as with g as (delete from orders returning *) select * from g", "CREATE DELETE DELETE-WITHOUT-WHERE SELECT")]
    [InlineData("create materialized view m as select 1 with no data", "CREATE SELECT")]
    [InlineData("create table t as execute wipe", "CREATE EXECUTE OPAQUE")]
    [InlineData("create view v as select * from orders", "CREATE")]
    [InlineData("create table t (id int generated always as identity, a text)", "CREATE")]
    [InlineData("declare c cursor for select * from orders", "DECLARE SELECT")]
    [InlineData("declare c cursor with hold for with x as (delete from t returning *) select * from x", "DECLARE DELETE DELETE-WITHOUT-WHERE SELECT")]
    // COPY: FROM inserts, TO reads, (query) runs the query, PROGRAM runs a shell command.
    [InlineData("copy orders from stdin", "COPY INSERT")]
    [InlineData("copy orders (customer, amount) from '/tmp/orders.csv' with (format csv)", "COPY INSERT")]
    [InlineData("copy orders to stdout", "COPY SELECT")]
    [InlineData("copy (select * from orders) to stdout", "COPY SELECT")]
    [InlineData("copy orders to program 'gzip > /tmp/o.gz'", "COPY SELECT OPAQUE")]
    [InlineData("copy orders from program 'cat /etc/passwd'", "COPY INSERT OPAQUE")]
    // SQL the lexer cannot read: code run now, code installed to run later, a prepared statement's text.
    [InlineData("do $$ begin delete from orders; end $$", "DO OPAQUE")]
    [InlineData("DO LANGUAGE plpgsql 'begin null; end'", "DO OPAQUE")]
    [InlineData("call archive_orders(7)", "CALL OPAQUE")]
    [InlineData("execute wipe", "EXECUTE OPAQUE")]
    [InlineData("execute wipe (1, 'a')", "EXECUTE OPAQUE")]
    [InlineData("explain analyze execute wipe", "EXPLAIN EXECUTE OPAQUE")]
    [InlineData("explain execute wipe", "EXPLAIN")]
    [InlineData("prepare wipe as delete from orders", "PREPARE DELETE DELETE-WITHOUT-WHERE")]
    [InlineData("create function f() returns void language sql as $$ delete from orders $$", "CREATE OPAQUE")]
    [InlineData("create or replace procedure p() language plpgsql as $$ begin null; end $$", "CREATE OPAQUE")]
    [InlineData("create rule r as on insert to t do instead delete from orders", "CREATE OPAQUE")]
    [InlineData("create or replace rule r as on select to t do instead select 1", "CREATE OPAQUE")]
    [InlineData("create trigger tr before insert on t for each row execute function f()", "CREATE OPAQUE")]
    [InlineData("create constraint trigger tr after insert on t for each row execute procedure f()", "CREATE OPAQUE")]
    [InlineData("create event trigger e on ddl_command_start execute function f()", "CREATE OPAQUE")]
    [InlineData("create extension if not exists dblink", "CREATE OPAQUE")]
    [InlineData("create trusted procedural language plx handler plx_handler", "CREATE OPAQUE")]
    [InlineData("create transform for hstore language plpython3u (from sql with function f(internal), to sql with function g(internal))", "CREATE OPAQUE")]
    [InlineData("alter extension hstore update to '1.8'", "ALTER OPAQUE")]
    [InlineData("load 'auto_explain'", "LOAD OPAQUE")]
    [InlineData("select dblink_exec('dbname=ledger', 'delete from orders')", "SELECT OPAQUE")]
    [InlineData("select * from public.query_to_xml('select 1', true, false, '')", "SELECT OPAQUE")]
    [InlineData("create schema s create table t (id int) create trigger tr after insert on t for each row execute function f()", "CREATE OPAQUE")]
    // Everything else by its leading keyword, with the grants inside ALTER DEFAULT PRIVILEGES and CREATE SCHEMA.
    [InlineData("alter table orders rename to old_orders", "ALTER")]
    [InlineData("alter table orders rename column amount to total", "ALTER")]
    [InlineData("alter default privileges grant select on tables to bob", "ALTER GRANT")]
    [InlineData("alter default privileges in schema s revoke all on tables from bob", "ALTER REVOKE")]
    [InlineData("create schema s create table t (id int) grant select on t to bob", "CREATE GRANT")]
    [InlineData("security label for selinux on table t is 'system_u:object_r:sepgsql_table_t:s0'", "SECURITY")]
    [InlineData("comment on table t is 'x'", "COMMENT")]
    [InlineData("revoke all on orders from public", "REVOKE")]
    [InlineData("reassign owned by a to b", "REASSIGN")]
    [InlineData("import foreign schema s from server x into y", "IMPORT")]
    [InlineData("refresh materialized view concurrently m", "REFRESH")]
    [InlineData("drop function f", "DROP")]
    [InlineData("create index concurrently i on t (a)", "CREATE")]
    [InlineData("vacuum (full, analyze) t", "VACUUM")]
    [InlineData("analyze t", "ANALYZE")]
    [InlineData("cluster t using i", "CLUSTER")]
    [InlineData("reindex table t", "REINDEX")]
    [InlineData("lock table t in access exclusive mode", "LOCK")]
    [InlineData("set role admin", "SET")]
    [InlineData("set session authorization bob", "SET")]
    [InlineData("reset all", "RESET")]
    [InlineData("show all", "SHOW")]
    [InlineData("start transaction isolation level serializable", "START")]
    [InlineData("prepare transaction 'x'", "PREPARE")]
    [InlineData("commit prepared 'x'", "COMMIT")]
    [InlineData("listen x", "LISTEN")]
    [InlineData("notify x, 'y'", "NOTIFY")]
    [InlineData("fetch forward 5 from c", "FETCH")]
    [InlineData("discard all", "DISCARD")]
    [InlineData("deallocate all", "DEALLOCATE")]
    [InlineData("checkpoint", "CHECKPOINT")]
    public void StatementForm_HasTheKindsOfWhatItDoes(string sql, string kinds)
    {
        var statement = Assert.Single(SqlStatements.Split(sql));

        Assert.Equal(kinds.Split(' ').Order(), statement.Kinds.Order());
    }

    /// <summary>The verdict of a deny rule on DELETE, one on DELETE-WITHOUT-WHERE and one on OPAQUE, for forms that once slipped past.</summary>
    [Theory]
    [InlineData("MERGE INTO orders o USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE", "no-delete no-delete-all")]
    [InlineData("MERGE INTO orders o USING src s ON o.id = s.id WHEN MATCHED THEN DELETE", "no-delete")]
    [InlineData("MERGE INTO orders o USING src s ON o.id = s.id WHEN MATCHED THEN UPDATE SET amount = 0", "")]
    [InlineData("TRUNCATE orders", "no-delete no-delete-all")]
    [InlineData("delete from orders where 1 = 1", "no-delete no-delete-all")]
    [InlineData("do $$ begin delete from orders; end $$", "no-opaque")]
    [InlineData("call purge()", "no-opaque")]
    [InlineData("select * from orders where id = 1", "")]
    public void DenyRules_FireOnWhatTheStatementDoes(string sql, string rules)
    {
        var guardrails = new[] { ("no-delete", "DELETE"), ("no-delete-all", SqlStatements.DeleteWithoutWhere), ("no-opaque", SqlStatements.Opaque) }
            .Select(r => Guardrail.Compile(new Hoop.Data.Entities.GuardrailRule
            {
                Name = r.Item1, Protocol = Hoop.Data.Entities.GuardrailProtocol.Sql, Action = Hoop.Data.Entities.GuardrailAction.Deny, Message = "m", SqlKinds = [r.Item2],
            }, null));

        var fired = guardrails.Where(g => SqlStatements.Split(sql).Any(g.Matches)).Select(g => g.Name);

        Assert.Equal(rules.Split(' ', StringSplitOptions.RemoveEmptyEntries), fired);
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
