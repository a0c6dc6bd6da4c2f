using Hoop.Proxy.Recording;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Hoop.Tests.Proxy.Postgres;

/// <summary>The admission step the HTTP gate shares: in Required mode a session that cannot be recorded does not start.</summary>
public sealed class PostgresRecordingModeTests
{
    [Fact]
    public async Task RequiredMode_WriterFailing_RefusesNewSessionsWith57P03_ThenAdmitsThemAgain()
    {
        var fixture = new PostgresFixture();
        await fixture.InitializeAsync();
        try
        {
            var recorder = fixture.Hoop.Services.GetRequiredService<Recorder>();
            await using (var db = await fixture.Contexts.CreateDbContextAsync())
            {
                // A real write failure: the table the writer inserts into is gone for a while.
                await db.Database.ExecuteSqlRawAsync("ALTER TABLE SessionChunks RENAME TO SessionChunksAway");
            }

            await using (var before = await fixture.OpenAgentAsync())
            {
                await using var query = new NpgsqlCommand("SELECT 1", before);
                await query.ExecuteScalarAsync();
            }

            await Eventually.TrueAsync(() => !recorder.Healthy, TimeSpan.FromSeconds(30));
            var refused = await Assert.ThrowsAsync<PostgresException>(() => fixture.OpenAgentAsync());
            Assert.Equal("57P03", refused.SqlState);
            Assert.Contains("no unrecorded access", refused.MessageText);

            await using (var db = await fixture.Contexts.CreateDbContextAsync())
            {
                await db.Database.ExecuteSqlRawAsync("ALTER TABLE SessionChunksAway RENAME TO SessionChunks");
            }

            await Eventually.TrueAsync(() => recorder.Healthy, TimeSpan.FromSeconds(30));
            await using var after = await fixture.OpenAgentAsync();
            await using var again = new NpgsqlCommand("SELECT 1", after);
            Assert.Equal(1, await again.ExecuteScalarAsync());
        }
        finally
        {
            await fixture.DisposeAsync();
        }
    }
}
