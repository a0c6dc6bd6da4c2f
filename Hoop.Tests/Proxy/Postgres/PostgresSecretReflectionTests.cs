using System.Text.Json;
using Hoop.Proxy.Credentials;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Hoop.Tests.Proxy.Postgres;

/// <summary>
/// A database that hands its own password back (a settings table, a function, a RAISE) must not hand it to the
/// agent: rows, errors, notices, notifications and COPY data all arrive with it removed.
/// </summary>
public sealed class PostgresSecretReflectionTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>, IAsyncLifetime
{
    public async Task InitializeAsync() => await fixture.Postgres.ExecuteAsync($"""
        SET ROLE app;
        CREATE TABLE IF NOT EXISTS app_settings (name text PRIMARY KEY, value text);
        INSERT INTO app_settings VALUES ('db_password', '{PostgresFixture.DatabaseCanary}') ON CONFLICT DO NOTHING;
        """, "ledger");

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task PasswordInRow_ArrivesRemovedAndIsAudited()
    {
        await using var agent = await fixture.OpenAgentAsync(fixture.Token("reflect-row"));
        await using var command = new NpgsqlCommand("SELECT name, value, 'prefix ' || value AS quoted FROM app_settings", agent);
        await using var reader = await command.ExecuteReaderAsync();

        Assert.True(await reader.ReadAsync());
        Assert.Equal("db_password", reader.GetString(0));
        Assert.Equal(SecretScrubber.Removed, reader.GetString(1));
        Assert.Equal($"prefix {SecretScrubber.Removed}", reader.GetString(2));
        await reader.DisposeAsync();
        await agent.CloseAsync();

        var recorded = await RecordedAsync("SELECT name, value, 'prefix '");
        Assert.Equal(SecretScrubber.Removed, recorded.GetProperty("rows")[0][1].GetString());
        Assert.Equal("row", recorded.GetProperty("secretReflected")[0].GetString());
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        Assert.Contains(await db.AuditEvents.Where(a => a.Action == "proxy.secret-reflected" && a.Target == "ledger").ToListAsync(),
            a => a.Details!.Contains("\"row\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PasswordInErrorNoticeNotificationAndCopy_ArrivesRemoved()
    {
        await using var agent = await fixture.OpenAgentAsync(fixture.Token("reflect-messages"));
        var notices = new List<string>();
        agent.Notice += (_, e) => notices.Add(e.Notice.MessageText);
        var notifications = new List<string>();
        agent.Notification += (_, e) => notifications.Add(e.Payload);

        await using (var notice = new NpgsqlCommand("DO $$ BEGIN RAISE NOTICE 'password is %', (SELECT value FROM app_settings); END $$", agent))
        {
            await notice.ExecuteNonQueryAsync();
        }

        var error = await Assert.ThrowsAsync<PostgresException>(async () =>
        {
            await using var raise = new NpgsqlCommand("DO $$ BEGIN RAISE EXCEPTION 'cannot use %', (SELECT value FROM app_settings); END $$", agent);
            await raise.ExecuteNonQueryAsync();
        });

        await using (var listen = new NpgsqlCommand("LISTEN leaks; SELECT pg_notify('leaks', (SELECT value FROM app_settings))", agent))
        {
            await listen.ExecuteNonQueryAsync();
        }

        await agent.WaitAsync(TimeSpan.FromSeconds(5));
        string copied;
        using (var copy = await agent.BeginTextExportAsync("COPY app_settings TO STDOUT"))
        {
            copied = await copy.ReadToEndAsync();
        }

        Assert.Equal($"password is {SecretScrubber.Removed}", Assert.Single(notices));
        Assert.Equal($"cannot use {SecretScrubber.Removed}", error.MessageText);
        Assert.Equal(SecretScrubber.Removed, Assert.Single(notifications));
        Assert.Equal($"db_password\t{SecretScrubber.Removed}\n", copied);
        Assert.DoesNotContain(PostgresFixture.DatabaseCanary, error.ToString());
    }

    private async Task<JsonElement> RecordedAsync(string queryPrefix)
    {
        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var events = (await Recorded.EventsAsync(db)).Where(e => e.Summary.StartsWith(queryPrefix, StringComparison.Ordinal)).ToList();
        Assert.All(events, e => Assert.DoesNotContain(PostgresFixture.DatabaseCanary, e.Content));
        return JsonDocument.Parse(events.Last().Content).RootElement;
    }
}
