using System.Net.Http.Json;
using System.Text.Json;
using Hoop.Proxy.Postgres;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Hoop.Tests.Proxy.Postgres;

/// <summary>Masking, guardrails and reviews on the Postgres port, set up through the admin API, against a real database.</summary>
public sealed class PostgresPolicyTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>
{
    /// <summary>Agents of this group get masked results (the rules are scoped to it, so other tests see raw data).</summary>
    private const string Masked = "masked-ledger-agents";

    private async Task MaskedGroupAsync()
    {
        using var admin = fixture.Hoop.CreateAdminClient();
        if ((await admin.GetAsync($"/api/v1/masking-rules/ssn-column")).IsSuccessStatusCode)
        {
            return;
        }

        await fixture.AddGroupAsync(Masked, fixture.Ledger.Id);
        await AdminApiAssert.CreatedAsync(admin, "/api/v1/masking-rules", new { name = "ssn-column", detector = "column", pattern = "ssn", group = Masked });
        await AdminApiAssert.CreatedAsync(admin, "/api/v1/masking-rules", new { name = "ledger-emails", detector = "email", group = Masked });
    }

    [Fact]
    public async Task MaskedColumnAndDetectorHits_AreMaskedForNpgsqlAndPsql_AndInTheRecording()
    {
        await MaskedGroupAsync();
        var token = fixture.Issuer.Token(subject: "masked-bot", groups: [Masked]);

        await using (var agent = await fixture.OpenAgentAsync(token))
        {
            // Npgsql reads results in binary format: text and jsonb values are masked all the same.
            await using var command = new NpgsqlCommand("SELECT name, email, ssn, notes::text, notes FROM customers WHERE id = $1", agent);
            command.Parameters.AddWithValue(1);
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            Assert.Equal("Ada", reader.GetString(0));
            Assert.Equal("[EMAIL]", reader.GetString(1));
            Assert.Equal("[SSN_COLUMN]", reader.GetString(2));
            Assert.Contains("\"contact\": \"[EMAIL]\"", reader.GetString(3));
            using var notes = JsonDocument.Parse(reader.GetString(4));
            Assert.Equal("[EMAIL]", notes.RootElement.GetProperty("contact").GetString());
            Assert.Equal(2, notes.RootElement.GetProperty("tier").GetInt32());
        }

        // psql reads text format.
        var (exit, output, error) = await fixture.RunClientAsync("psql", fixture.Issuer.Token(subject: "masked-psql", groups: [Masked]),
            fixture.Libpq(), "-X", "-A", "-t", "-c", "SELECT email, ssn FROM customers ORDER BY id");
        Assert.True(exit == 0, error);
        Assert.Equal(["[EMAIL]|[SSN_COLUMN]", "[EMAIL]|[SSN_COLUMN]"], output.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        await Eventually.TrueAsync(async () =>
        {
            await fixture.FlushRecordingAsync();
            await using var db = await fixture.Contexts.CreateDbContextAsync();
            return await db.Sessions.CountAsync(s => (s.Subject == "masked-bot" || s.Subject == "masked-psql") && s.EndedAt != null) == 2;
        });
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var sessions = await db.Sessions.Where(s => s.Subject == "masked-bot" || s.Subject == "masked-psql").Select(s => s.Id).ToListAsync();
        var recorded = string.Join('\n', (await Recorded.EventsAsync(db)).Where(e => sessions.Contains(e.SessionId)).Select(e => e.Content));
        Assert.DoesNotContain("ada@example.com", recorded);
        Assert.DoesNotContain("123-45-6789", recorded);
        Assert.Contains("[SSN_COLUMN]", recorded);
        var bot = await db.Sessions.SingleAsync(s => s.Subject == "masked-bot");
        Assert.Contains("\"email\":3", bot.MaskedValues); // email column, jsonb as text, jsonb
    }

    private async Task NoDropRuleAsync()
    {
        using var admin = fixture.Hoop.CreateAdminClient();
        if (!(await admin.GetAsync("/api/v1/guardrail-rules/no-drop")).IsSuccessStatusCode)
        {
            await AdminApiAssert.CreatedAsync(admin, "/api/v1/guardrail-rules", new
            {
                name = "no-drop", protocol = "sql", sqlKinds = new[] { "drop", "truncate" }, action = "deny",
                message = "Dropping or truncating tables is not allowed for agents.", connection = "ledger",
            });
        }
    }

    [Fact]
    public async Task DenyRule_RefusesDropTable_ButNotTheWordsInACommentOrString()
    {
        await NoDropRuleAsync();

        await using var agent = await fixture.OpenAgentAsync(fixture.Token("dropper"));
        await using (var drop = new NpgsqlCommand("DROP TABLE orders", agent))
        {
            var error = await Assert.ThrowsAsync<PostgresException>(() => drop.ExecuteNonQueryAsync());
            Assert.Equal("42501", error.SqlState);
            Assert.Contains("Dropping or truncating tables is not allowed", error.MessageText);
            Assert.Contains("no-drop", error.MessageText);
        }

        await using (var harmless = new NpgsqlCommand("SELECT 'drop table orders' /* truncate orders */ -- drop table orders", agent))
        {
            Assert.Equal("drop table orders", await harmless.ExecuteScalarAsync());
        }

        // Inside a transaction the refusal fails the transaction, as any error would.
        await using (var transaction = await agent.BeginTransactionAsync())
        {
            await using var insert = new NpgsqlCommand("INSERT INTO orders (customer, amount) VALUES (1, 1)", agent, transaction);
            await insert.ExecuteNonQueryAsync();
            await using var truncate = new NpgsqlCommand("SELECT 1; TRUNCATE orders", agent, transaction);
            Assert.Equal("42501", (await Assert.ThrowsAsync<PostgresException>(() => truncate.ExecuteNonQueryAsync())).SqlState);
            await using var next = new NpgsqlCommand("SELECT 1", agent, transaction);
            Assert.Equal("25P02", (await Assert.ThrowsAsync<PostgresException>(() => next.ExecuteScalarAsync())).SqlState);
        }

        Assert.Equal(50L, await fixture.Postgres.ScalarAsync<long>("SELECT count(*) FROM orders WHERE amount <= 50", "ledger"));

        var (exit, _, psqlError) = await fixture.RunClientAsync("psql", fixture.Token("psql-dropper"), fixture.Libpq(), "-X", "-c", "drop table customers");
        Assert.NotEqual(0, exit);
        Assert.Contains("Dropping or truncating tables is not allowed", psqlError);
        await Eventually.TrueAsync(async () =>
        {
            await fixture.FlushRecordingAsync();
            await using var db = await fixture.Contexts.CreateDbContextAsync();
            return (await Recorded.EventsAsync(db)).Any(e => e.Kind == "sql-denied" && e.Summary.StartsWith("DROP TABLE orders", StringComparison.Ordinal));
        });
    }

    [Fact]
    public async Task HeldDelete_RunsOnceAfterApproval()
    {
        await fixture.EnsureReviewersAsync();
        using var admin = fixture.Hoop.CreateAdminClient();
        await AdminApiAssert.CreatedAsync(admin, "/api/v1/guardrail-rules", new
        {
            name = "delete-needs-review", protocol = "sql", sqlKinds = new[] { "DELETE" }, action = "review",
            message = "Deleting rows needs a reviewer.", connection = "ledger", reviewerGroup = DataPathFixture.Reviewers,
        });
        const string delete = "/* justification: order 7 was entered twice */ DELETE FROM orders WHERE id = $1";

        await using var agent = await fixture.OpenAgentAsync(fixture.Token("deleter"));
        async Task<PostgresException?> RunAsync(int id)
        {
            await using var command = new NpgsqlCommand(delete, agent);
            command.Parameters.AddWithValue(id);
            try
            {
                Assert.Equal(1, await command.ExecuteNonQueryAsync());
                return null;
            }
            catch (PostgresException e)
            {
                return e;
            }
        }

        var held = await RunAsync(7);
        Assert.NotNull(held);
        Assert.Equal("42501", held.SqlState);
        var reviewId = System.Text.RegularExpressions.Regex.Match(held.MessageText, "review ([0-9a-f-]{36})").Groups[1].Value;
        Assert.NotEmpty(reviewId);

        using var rita = fixture.Reviewer("rita");
        var review = await rita.GetFromJsonAsync<JsonElement>($"/api/v1/reviews/{reviewId}");
        Assert.Equal("order 7 was entered twice", review.GetProperty("justification").GetString());
        Assert.Contains("DELETE FROM orders", review.GetProperty("request").GetString());
        Assert.Contains("\"7\"", review.GetProperty("request").GetString());
        (await rita.PostAsJsonAsync($"/api/v1/reviews/{reviewId}/decision", new { approve = true })).EnsureSuccessStatusCode();

        Assert.NotNull(await RunAsync(8)); // Another row is another request: not approved.
        Assert.Null(await RunAsync(7)); // The approved one runs,
        Assert.NotNull(await RunAsync(7)); // once.
        Assert.Equal(0L, await fixture.Postgres.ScalarAsync<long>("SELECT count(*) FROM orders WHERE id = 7", "ledger"));
        Assert.Equal(1L, await fixture.Postgres.ScalarAsync<long>("SELECT count(*) FROM orders WHERE id = 8", "ledger"));

        // The recording names the review the delete ran on, and the review the session it was held in.
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var stored = await db.Reviews.AsNoTracking().SingleAsync(r => r.Id == Guid.Parse(reviewId));
        var ran = (await Recorded.EventsAsync(db, stored.SessionId)).Where(e => e.Kind == "sql" && e.Summary.Contains("DELETE FROM orders", StringComparison.Ordinal))
            .ToList();
        var approved = Assert.Single(ran, e => e.Marks.HasFlag(Hoop.Data.Entities.EventMarks.Approved));
        Assert.Contains(reviewId, approved.Content);
    }

    [Fact]
    public async Task NamedPreparedStatement_IsCheckedAtParse_SoSqlExecuteCannotRunARefusedOne()
    {
        await NoDropRuleAsync();
        await using var agent = await fixture.OpenAgentAsync(fixture.Token("preparer"));
        await using var prepared = new NpgsqlCommand("TRUNCATE orders", agent);

        var error = await Assert.ThrowsAsync<PostgresException>(() => prepared.PrepareAsync());

        Assert.Equal("42501", error.SqlState);
        await using var count = new NpgsqlCommand("SELECT count(*) FROM orders", agent);
        Assert.True((long)(await count.ExecuteScalarAsync())! > 0);
    }

    /// <summary>
    /// The agent describes one binding of the unnamed portal and executes another: the rows are masked by the
    /// columns of the one that runs, since Hoop asks the database itself.
    /// </summary>
    [Fact]
    public async Task RowsOfARebindingAfterAnAgentsDescribe_AreMaskedByTheirOwnColumns()
    {
        await MaskedGroupAsync();
        await using var client = await RawPgClient.ConnectAsync(fixture.PgPort);
        await client.StartTlsAsync(fixture.Hoop.Certificate);
        await client.LoginAsync(fixture.Issuer.Token(subject: "rebinder", groups: [Masked]));
        static byte[] Parse(string sql) => new PgBuilder().CString("").CString(sql).Int16(0).Message((byte)'P');
        var bind = new PgBuilder().CString("").CString("").Int16(0).Int16(0).Int16(0).Message((byte)'B');
        await client.SendAsync([
            .. Parse("SELECT 1 AS n"), .. bind, .. new PgBuilder().Byte((byte)'P').CString("").Message((byte)'D'),
            .. Parse("SELECT email FROM customers WHERE id = 1"), .. bind, .. new PgBuilder().CString("").Int32(0).Message((byte)'E'),
            .. new PgBuilder().Message((byte)'S'),
        ]);

        var rows = new List<string>();
        while (await client.ReadAsync() is var (type, body) && type != 'Z')
        {
            Assert.NotEqual('\0', type);
            if (type == 'D')
            {
                rows.Add(System.Text.Encoding.UTF8.GetString(body));
            }
        }

        Assert.Contains(rows, r => r.Contains("[EMAIL]", StringComparison.Ordinal));
        Assert.DoesNotContain(rows, r => r.Contains("ada@example.com", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AnErrorQuotingAMaskedValue_IsMaskedToo()
    {
        await MaskedGroupAsync();
        await using var agent = await fixture.OpenAgentAsync(fixture.Issuer.Token(subject: "error-quoter", groups: [Masked]));
        await using var command = new NpgsqlCommand("SELECT email::int FROM customers WHERE id = 1", agent);

        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteScalarAsync());

        Assert.Equal("22P02", error.SqlState);
        Assert.DoesNotContain("ada@example.com", error.MessageText);
        Assert.Contains("[EMAIL]", error.MessageText);
    }

    /// <summary>
    /// The MERGE of the security test: with deny rules for DELETE and DELETE without WHERE, a MERGE whose join is
    /// constant-true and whose action is DELETE is refused and the 3,000 rows survive; a DO block, whose body the
    /// lexer cannot read, is refused by a rule on OPAQUE. Own connection, so the rules touch no other test.
    /// </summary>
    [Fact]
    public async Task MergeThatDeletes_IsDeniedByDeleteRules_AndTheRowsSurvive()
    {
        const string Group = "merge-agents";
        await fixture.Postgres.ExecuteAsync(
            "SET ROLE app; CREATE TABLE merge_orders (id int PRIMARY KEY, amount int); INSERT INTO merge_orders SELECT g, g FROM generate_series(1, 3000) g;", "ledger");
        var connection = await fixture.AddPostgresConnectionAsync("ledger-merge", "ledger");
        await fixture.AddGroupAsync(Group, connection.Id);
        using var admin = fixture.Hoop.CreateAdminClient();
        foreach (var (name, kind) in new[] { ("merge-no-delete", "DELETE"), ("merge-no-delete-all", "DELETE-WITHOUT-WHERE"), ("merge-no-opaque", "OPAQUE") })
        {
            await AdminApiAssert.CreatedAsync(admin, "/api/v1/guardrail-rules", new
            {
                name, protocol = "sql", sqlKinds = new[] { kind }, action = "deny", message = $"No {kind} for agents.", connection = "ledger-merge",
            });
        }

        await using var agent = fixture.Agent(fixture.Issuer.Token(subject: "merger", groups: [Group]), database: "ledger-merge");
        await agent.OpenAsync();
        foreach (var sql in new[]
        {
            "MERGE INTO merge_orders o USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE",
            "MERGE INTO merge_orders o USING (SELECT 1 AS x) s ON 1 = 1 WHEN MATCHED THEN UPDATE SET amount = 0 WHEN NOT MATCHED THEN DO NOTHING; "
                + "MERGE INTO merge_orders o USING (SELECT 1) s ON true WHEN MATCHED THEN DELETE",
            "DO $$ BEGIN DELETE FROM merge_orders; END $$",
        })
        {
            await using var command = new NpgsqlCommand(sql, agent);
            var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
            Assert.Equal("42501", error.SqlState);
            Assert.Contains("guardrail 'merge-no-", error.MessageText);
        }

        Assert.Equal(3000L, await fixture.Postgres.ScalarAsync<long>("SELECT count(*) FROM merge_orders WHERE amount > 0", "ledger"));

        // A MERGE that only inserts is no delete: it runs.
        await using (var insert = new NpgsqlCommand(
            "MERGE INTO merge_orders o USING (SELECT 3001 AS id) s ON o.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id, 1)", agent))
        {
            Assert.Equal(1, await insert.ExecuteNonQueryAsync());
        }

        Assert.Equal(3001L, await fixture.Postgres.ScalarAsync<long>("SELECT count(*) FROM merge_orders", "ledger"));
    }

    [Fact]
    public async Task TurningStandardConformingStringsOff_IsRefused()
    {
        await using var agent = await fixture.OpenAgentAsync(fixture.Token("settings-agent"));
        await using var command = new NpgsqlCommand("SET standard_conforming_strings = off", agent);

        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());

        Assert.Equal("0A000", error.SqlState);
        await using var still = new NpgsqlCommand("SHOW standard_conforming_strings", agent);
        Assert.Equal("on", await still.ExecuteScalarAsync());
    }

    [Fact]
    public async Task BadSqlRules_AreRefusedAtSave()
    {
        using var admin = fixture.Hoop.CreateAdminClient();

        await AdminApiAssert.RefusedAsync(admin, "/api/v1/guardrail-rules", new { name = "s1", protocol = "sql", action = "deny", message = "m" }, "sqlKinds", "statement kinds");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/guardrail-rules",
            new { name = "s2", protocol = "sql", sqlKinds = new[] { "DROP TABLE" }, action = "deny", message = "m" }, "sqlKinds", "not a statement kind");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/guardrail-rules",
            new { name = "s3", protocol = "sql", statement = "(a+)+\\1", action = "deny", message = "m" }, "statement", "non-backtracking");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/guardrail-rules", new { name = "s4", protocol = "cobol", action = "deny", message = "m" }, "protocol", "http or sql");
        await AdminApiAssert.RefusedAsync(admin, "/api/v1/masking-rules", new { name = "c1", detector = "column", pattern = " " }, "pattern", "column names");
    }
}
