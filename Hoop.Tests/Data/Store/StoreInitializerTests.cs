using System.Security.Cryptography;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Recording;
using Hoop.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Data.Store;

public sealed class StoreInitializerTests : IDisposable
{
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task Start_EmptyFolder_CreatesStoreWithEveryMigrationInWalMode()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);

        await using var db = await Contexts(host).CreateDbContextAsync();
        Assert.Equal(db.Database.GetMigrations(), await db.Database.GetAppliedMigrationsAsync());
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        var mode = await db.Database.SqlQueryRaw<string>("SELECT journal_mode AS Value FROM pragma_journal_mode").SingleAsync();
        Assert.Equal("wal", mode);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Start_UsualUmask_FolderAndStoreFilesAreOwnerOnly()
    {
        var folder = Path.Combine(_folder.Path, "store");
        await using var host = await HoopTestHost.StartAsync(folder);
        await using (var db = await Contexts(host).CreateDbContextAsync())
        {
            db.Groups.Add(new Group { Name = "writes-the-wal", Roles = Roles.None });
            await db.SaveChangesAsync();
        }

        Assert.Equal(Octal(StoreFiles.FolderMode), Octal(File.GetUnixFileMode(folder)));
        foreach (var file in new[] { "hoop.db", "hoop.db-wal", "hoop.db-shm", "master.key" })
        {
            Assert.True(File.Exists(Path.Combine(folder, file)), file);
            Assert.Equal((file, Octal(StoreFiles.FileMode)), (file, Octal(File.GetUnixFileMode(Path.Combine(folder, file)))));
        }
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Start_StoreOpenedUpToOthers_IsMadeOwnerOnlyAgainWithALogLine()
    {
        var folder = Path.Combine(_folder.Path, "store");
        await (await HoopTestHost.StartAsync(folder)).DisposeAsync();
        SqliteConnection.ClearAllPools();
        const UnixFileMode open = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        File.SetUnixFileMode(folder, StoreFiles.FolderMode | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        File.SetUnixFileMode(Path.Combine(folder, "hoop.db"), open);

        await using var host = await HoopTestHost.StartAsync(folder);

        Assert.Equal(Octal(StoreFiles.FolderMode), Octal(File.GetUnixFileMode(folder)));
        Assert.Equal(Octal(StoreFiles.FileMode), Octal(File.GetUnixFileMode(Path.Combine(folder, "hoop.db"))));
        await Eventually.TrueAsync(async () =>
        {
            await using var db = await Contexts(host).CreateDbContextAsync();
            return await db.LogEvents.CountAsync(e => e.EventId == 1003 && e.Message.Contains("hoop.db") && e.Message.Contains("0644")) == 1;
        });
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8);

    [Fact]
    public async Task Start_ExistingStore_KeepsItsData()
    {
        await using (var first = await HoopTestHost.StartAsync(_folder.Path))
        {
            await using var db = await Contexts(first).CreateDbContextAsync();
            db.Groups.Add(new Group { Name = "platform-team", Roles = Roles.Admin });
            await db.SaveChangesAsync();
        }

        await using var second = await HoopTestHost.StartAsync(_folder.Path);
        await using var again = await Contexts(second).CreateDbContextAsync();
        var group = await again.Groups.SingleAsync();
        Assert.Equal("platform-team", group.Name);
        Assert.Equal(again.Database.GetMigrations(), await again.Database.GetAppliedMigrationsAsync());
    }

    [Fact]
    public async Task Start_StoreFromTheFirstVersion_AppliesTheLaterMigrationsAndKeepsItsData()
    {
        await (await HoopTestHost.StartAsync(_folder.Path)).DisposeAsync();
        await using (var old = HoopTestHost.Build(_folder.Path))
        {
            // Take the store back to the first release's schema and give it a row written by that release.
            await using var db = await old.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
            var first = db.Database.GetMigrations().First();
            await db.GetService<IMigrator>().MigrateAsync(first);
            await db.Database.ExecuteSqlRawAsync("DELETE FROM Groups");
            await db.Database.ExecuteSqlRawAsync("""
                INSERT INTO Groups (Id, Name, Roles, CreatedAt, UpdatedAt, Version)
                VALUES ('0F8FAD5B-D9CB-469F-A165-70867728950E', 'platform-team', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00',
                        '7C9E6679-7425-40DE-944B-E07FC1F90AE7')
                """);
            await db.Database.ExecuteSqlRawAsync("""
                INSERT INTO Sessions (Id, ConnectionId, ConnectionName, Protocol, Subject, Groups, StartedAt, EndedAt, Status, EventCount, LegalHold)
                VALUES ('5B6B2D8A-3A5E-4C1D-9E5F-0A1B2C3D4E5F', '6C7D8E9F-0A1B-4C2D-8E3F-405162738495', 'billing', 'Http', 'old-agent', '[]',
                        '2026-01-01 00:00:00', '2026-01-01 00:01:00', 'Closed', 1, 0)
                """);
            // Raw SQL is a format string to EF: the JSON's braces are doubled.
            await db.Database.ExecuteSqlRawAsync("""
                INSERT INTO SessionEvents (SessionId, Sequence, At, Kind, Summary, Content, DurationMicroseconds)
                VALUES ('5B6B2D8A-3A5E-4C1D-9E5F-0A1B2C3D4E5F', 1, '2026-01-01 00:00:30', 'http', 'GET /invoices 200',
                        '{{"request":{{"path":"/invoices","query":"?customer=okapi17"}},"masked":{{"email":1}}}}', 1500),
                       ('5B6B2D8A-3A5E-4C1D-9E5F-0A1B2C3D4E5F', 2, '2026-01-01 00:00:40', 'http-held', 'DELETE /invoices 403',
                        '{{"request":{{"path":"/invoices"}}}}', 900)
                """);
            Assert.Equal([first], await db.Database.GetAppliedMigrationsAsync());
        }

        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        await using var again = await Contexts(host).CreateDbContextAsync();
        Assert.Equal(again.Database.GetMigrations(), await again.Database.GetAppliedMigrationsAsync());
        var group = await again.Groups.SingleAsync();
        Assert.Equal(("platform-team", Roles.Admin), (group.Name, group.Roles));
        // The first release's event: marked from its content, and found by search.
        var recorded = await again.SessionEvents.SingleAsync(e => e.Sequence == 1);
        Assert.Equal(EventMarks.Masked, recorded.Marks);
        // A hold is a mark too, for the timeline (its kind says so).
        Assert.Equal(EventMarks.Held, (await again.SessionEvents.SingleAsync(e => e.Sequence == 2)).Marks);
        var search = host.Services.GetRequiredService<SearchIndex>();
        await search.IndexAsync(CancellationToken.None);
        var hit = Assert.Single(await search.SearchAsync("okapi17", 10, CancellationToken.None));
        Assert.Equal(recorded.Id, hit.EventId);
    }

    [Fact]
    public async Task Start_StoreFromNewerVersion_RefusesAndLeavesTheFileAsItIs()
    {
        await (await HoopTestHost.StartAsync(_folder.Path)).DisposeAsync();
        var path = Path.Combine(_folder.Path, "hoop.db");
        await using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO __EFMigrationsHistory (MigrationId, ProductVersion) VALUES ('29991231000000_FromTheFuture', '99.0.0'); PRAGMA wal_checkpoint(TRUNCATE);";
            await command.ExecuteNonQueryAsync();
        }

        var before = Hash(path);
        await using var app = HoopTestHost.Build(_folder.Path);
        var error = await Assert.ThrowsAsync<StartupException>(() => app.StartAsync());

        Assert.Contains("newer version of Hoop", error.Message);
        Assert.Contains("29991231000000_FromTheFuture", error.Message);
        Assert.Equal(before, Hash(path));
    }

    [Fact]
    public async Task Start_FileThatIsNotADatabase_RefusesAndLeavesItAsItIs()
    {
        // A store needs its key; give it one so the check reaches the database itself.
        await (await HoopTestHost.StartAsync(_folder.Path)).DisposeAsync();
        var path = Path.Combine(_folder.Path, "hoop.db");
        File.Delete(path + "-wal");
        File.Delete(path + "-shm");
        await File.WriteAllTextAsync(path, new string('x', 4096));
        var before = Hash(path);

        await using var app = HoopTestHost.Build(_folder.Path);
        var error = await Assert.ThrowsAsync<StartupException>(() => app.StartAsync());

        Assert.Contains("is not a readable SQLite database", error.Message);
        Assert.Equal(before, Hash(path));
    }

    [Fact]
    public async Task Start_WithAnotherMasterKey_RefusesAndLeavesTheStoreAsItIs()
    {
        await (await HoopTestHost.StartAsync(_folder.Path)).DisposeAsync();
        var path = Path.Combine(_folder.Path, "hoop.db");
        var before = Hash(path);

        await using var app = HoopTestHost.Build(_folder.Path, new Dictionary<string, string?>
        {
            ["HOOP_MASTER_KEY"] = Convert.ToBase64String(new byte[32]),
        });
        var error = await Assert.ThrowsAsync<StartupException>(() => app.StartAsync());

        Assert.Contains("is not the one the store", error.Message);
        Assert.Equal(before, Hash(path));
    }

    private static IDbContextFactory<HoopDbContext> Contexts(HoopTestHost host) =>
        host.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>();

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }
}
