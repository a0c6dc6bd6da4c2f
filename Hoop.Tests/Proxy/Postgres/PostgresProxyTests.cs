using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Hoop.Tests.Proxy.Postgres;

/// <summary>Agents reach a real PostgreSQL through Hoop's Postgres port with Npgsql, psql and pgbench.</summary>
public sealed class PostgresProxyTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task Token_OpensASessionAsTheStoredUser()
    {
        await using var agent = await fixture.OpenAgentAsync();
        await using var command = new NpgsqlCommand("SELECT current_user, current_database(), ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", agent);
        await using var reader = await command.ExecuteReaderAsync();

        Assert.True(await reader.ReadAsync());
        Assert.Equal("app", reader.GetString(0));
        Assert.Equal("ledger", reader.GetString(1));
        Assert.True(reader.GetBoolean(2)); // Hoop's own hop to the database is TLS too.
    }

    [Fact]
    public async Task ApiKey_IsAcceptedAsThePassword()
    {
        var (_, key) = await fixture.AddApiKeyAsync("ledger-key", PostgresFixture.PgGroup);

        await using var agent = await fixture.OpenAgentAsync(key);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM customers", agent);

        Assert.Equal(2L, await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task WrongToken_IsRefusedWith28P01()
    {
        await using var agent = fixture.Agent("not-a-token");

        var error = await Assert.ThrowsAsync<PostgresException>(() => agent.OpenAsync());

        Assert.Equal("28P01", error.SqlState);
    }

    [Fact]
    public async Task Plaintext_IsRefusedWith28000()
    {
        await using var agent = fixture.Agent(fixture.Token(), sslMode: "Disable");

        var error = await Assert.ThrowsAsync<PostgresException>(() => agent.OpenAsync());

        Assert.Equal("28000", error.SqlState);
        Assert.Contains("SSL required", error.MessageText);
    }

    [Fact]
    public async Task GroupWithoutGrant_IsRefusedWith28000()
    {
        await using var agent = fixture.Agent(fixture.Issuer.Token(subject: "stranger", groups: ["other-team"]));

        var error = await Assert.ThrowsAsync<PostgresException>(() => agent.OpenAsync());

        Assert.Equal("28000", error.SqlState);
        Assert.Contains("ledger", error.MessageText);
    }

    [Fact]
    public async Task UnknownDatabase_IsRefusedWith3D000()
    {
        await using var agent = fixture.Agent(fixture.Token(), database: "nowhere");

        var error = await Assert.ThrowsAsync<PostgresException>(() => agent.OpenAsync());

        Assert.Equal("3D000", error.SqlState);
    }

    [Fact]
    public async Task SimpleExtendedAndPreparedQueries_Work()
    {
        await using var agent = await fixture.OpenAgentAsync();

        // Extended protocol with a parameter.
        await using (var command = new NpgsqlCommand("SELECT name FROM customers WHERE id = $1", agent))
        {
            command.Parameters.AddWithValue(2);
            Assert.Equal("Bob", await command.ExecuteScalarAsync());
        }

        // A prepared statement run three times (the later runs send only Bind and Execute).
        await using (var prepared = new NpgsqlCommand("SELECT sum(amount) FROM orders WHERE customer = $1", agent))
        {
            prepared.Parameters.Add(new NpgsqlParameter { Value = 1 });
            await prepared.PrepareAsync();
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(650m, await prepared.ExecuteScalarAsync());
            }
        }

        // A batch of two statements, pipelined.
        await using (var batch = new NpgsqlBatch(agent) { BatchCommands = { new("SELECT 1"), new("SELECT 'two'") } })
        await using (var reader = await batch.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.Equal(1, reader.GetInt32(0));
            Assert.True(await reader.NextResultAsync() && await reader.ReadAsync());
            Assert.Equal("two", reader.GetString(0));
        }
    }

    [Fact]
    public async Task RolledBackTransaction_LeavesNoTrace()
    {
        await using var agent = await fixture.OpenAgentAsync();
        await using (var transaction = await agent.BeginTransactionAsync())
        {
            await using var insert = new NpgsqlCommand("INSERT INTO customers (id, name) VALUES (99, 'Temp')", agent, transaction);
            await insert.ExecuteNonQueryAsync();
            await transaction.RollbackAsync();
        }

        Assert.Equal(0L, await fixture.Postgres.ScalarAsync<long>("SELECT count(*) FROM customers WHERE id = 99", "ledger"));
    }

    [Fact]
    public async Task CopyInAndOut_Work()
    {
        await using var agent = await fixture.OpenAgentAsync();
        await using (var create = new NpgsqlCommand("CREATE TEMP TABLE imported (id int, label text)", agent))
        {
            await create.ExecuteNonQueryAsync();
        }

        await using (var writer = await agent.BeginTextImportAsync("COPY imported FROM STDIN"))
        {
            for (var i = 1; i <= 500; i++)
            {
                await writer.WriteLineAsync($"{i}\tlabel {i}");
            }
        }

        using var exported = await agent.BeginTextExportAsync("COPY (SELECT id, label FROM imported ORDER BY id) TO STDOUT");
        var lines = new List<string>();
        while (await exported.ReadLineAsync() is { } line)
        {
            lines.Add(line);
        }

        Assert.Equal(500, lines.Count);
        Assert.Equal("500\tlabel 500", lines[^1]);
    }

    [Fact]
    public async Task Cancel_StopsARunningQuery()
    {
        await using var agent = await fixture.OpenAgentAsync();
        await using var command = new NpgsqlCommand("SELECT pg_sleep(30)", agent);
        var started = DateTime.UtcNow;
        var running = command.ExecuteNonQueryAsync();
        // Cancelled once the database itself runs it, not before it got there.
        await Eventually.TrueAsync(async () => await fixture.Postgres.ScalarAsync<long>(
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'") == 1, TimeSpan.FromSeconds(20));
        command.Cancel();

        var error = await Assert.ThrowsAsync<OperationCanceledException>(() => running);

        Assert.Equal("57014", Assert.IsType<PostgresException>(error.InnerException).SqlState); // query_canceled, by the database itself
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(20));
        await using var after = new NpgsqlCommand("SELECT 1", agent);
        Assert.Equal(1, await after.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Psql_ConnectsWithVerifyFull()
    {
        var (exit, output, error) = await fixture.RunClientAsync("psql", fixture.Token("psql-agent"),
            fixture.Libpq(), "-X", "-A", "-t", "-c", "SELECT name FROM customers ORDER BY id", "-c", "SELECT current_user");

        Assert.True(exit == 0, error);
        Assert.Equal(["Ada", "Bob", "app"], output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Pgbench_RunsThroughHoop()
    {
        await fixture.Postgres.ExecuteAsync("CREATE DATABASE bench OWNER app");
        var (initExit, _, initError) = await fixture.RunClientAsync("pgbench", PostgresFixture.DatabaseCanary,
            "-i", "-s", "1", "-q", $"host=127.0.0.1 port={fixture.Postgres.Port} dbname=bench user=app sslmode=require");
        Assert.True(initExit == 0, initError);
        var bench = await fixture.AddPostgresConnectionAsync("bench", "bench");
        await fixture.GrantAsync(PostgresFixture.PgGroup, bench.Id);

        var (exit, output, error) = await fixture.RunClientAsync("pgbench", fixture.Token("pgbench-agent"),
            "-n", "-c", "2", "-t", "50", fixture.Libpq("bench"));
        var (tpcbExit, tpcbOutput, tpcbError) = await fixture.RunClientAsync("pgbench", fixture.Token("pgbench-agent"),
            "-n", "-c", "2", "-t", "20", "-M", "extended", fixture.Libpq("bench"));

        Assert.True(exit == 0, error + output);
        Assert.Contains("number of transactions actually processed: 100/100", output);
        Assert.True(tpcbExit == 0, tpcbError + tpcbOutput);
        Assert.Contains("number of transactions actually processed: 40/40", tpcbOutput);
    }

    [Fact]
    public async Task QueriesAndResults_AreRecorded_AndTheCanaryNowhere()
    {
        await using (var agent = await fixture.OpenAgentAsync(fixture.Token("recorded-agent")))
        {
            await using var command = new NpgsqlCommand("SELECT id, name FROM customers WHERE id = $1", agent);
            command.Parameters.AddWithValue(1);
            await using var reader = await command.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
        }

        await Eventually.TrueAsync(async () =>
        {
            await fixture.FlushRecordingAsync();
            await using var db = await fixture.Contexts.CreateDbContextAsync();
            return await db.Sessions.AnyAsync(s => s.Subject == "recorded-agent" && s.EndedAt != null);
        });
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var session = await db.Sessions.SingleAsync(s => s.Subject == "recorded-agent");
        var events = (await Recorded.EventsAsync(db, session.Id)).OrderBy(e => e.Sequence).ToList();
        var query = events.Single(e => e.Summary.StartsWith("SELECT id, name", StringComparison.Ordinal));
        using var content = JsonDocument.Parse(query.Content);

        Assert.Equal(ConnectionKind.Postgres, session.Protocol);
        Assert.Equal("The agent ended the session.", session.EndReason);
        Assert.Equal("sql", query.Kind);
        Assert.Equal("1", content.RootElement.GetProperty("parameters")[0].GetString());
        Assert.Equal(["id", "name"], content.RootElement.GetProperty("columns").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal("Ada", content.RootElement.GetProperty("rows")[0][1].GetString());
        Assert.Equal(1, content.RootElement.GetProperty("rowCount").GetInt32());

        var stored = string.Join('\n', (await Recorded.EventsAsync(db)).Select(e => e.Content))
            + string.Join('\n', await db.AuditEvents.Select(e => e.Details).ToListAsync())
            + string.Join('\n', await db.LogEvents.Select(e => e.Message + e.Exception).ToListAsync());
        Assert.DoesNotContain(PostgresFixture.DatabaseCanary, stored);
    }
}
