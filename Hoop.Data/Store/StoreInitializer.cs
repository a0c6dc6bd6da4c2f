using Hoop.Data.Logging;
using Hoop.Data.Secrets;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Data.Store;

/// <summary>
/// Brings the store to this version's schema before anything else starts: refuses a store written by a
/// newer Hoop (without touching it), switches SQLite to WAL, applies migrations, then lets the log sink write.
/// </summary>
internal sealed partial class StoreInitializer(
    IDbContextFactory<HoopDbContext> contexts,
    StoreOptions options,
    MasterKey masterKey,
    SqliteLogSink logSink,
    ILogger<StoreInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Owner-only before SQLite opens anything, and again once it has made its -wal and -shm.
        RestrictFiles();
        StoreFiles.CreateDatabase(options);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var known = db.Database.GetMigrations().ToHashSet(StringComparer.Ordinal);
        IReadOnlyList<string> applied;
        try
        {
            applied = (await db.Database.GetAppliedMigrationsAsync(cancellationToken)).ToList();
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 11 or 26) // SQLITE_CORRUPT, SQLITE_NOTADB
        {
            throw new StartupException($"The store {options.DatabasePath} is not a readable SQLite database ({e.Message}). Restore it from a backup, or point Hoop:DataFolder at another folder.", e);
        }

        var unknown = applied.Where(m => !known.Contains(m)).ToList();
        if (unknown.Count > 0)
        {
            throw new StartupException(
                $"The store {options.DatabasePath} was written by a newer version of Hoop (schema {unknown[^1]}). Run that version or a later one, or restore a backup made for this version; this version leaves the store as it is.");
        }

        await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        var pending = known.Count - applied.Count;
        if (pending > 0)
        {
            LogMigrating(pending, options.DatabasePath);
            await db.Database.MigrateAsync(cancellationToken);
        }

        await CheckMasterKeyAsync(db, cancellationToken);
        RestrictFiles();
        logSink.Start(options.ConnectionString);
        LogReady(options.DatabasePath);
    }

    /// <summary>
    /// A store remembers a check value of the master key it was created with. Another key (a wrong
    /// HOOP_MASTER_KEY, a key file from elsewhere) stops start-up before anything could write with it.
    /// </summary>
    private async Task CheckMasterKeyAsync(HoopDbContext db, CancellationToken cancellationToken)
    {
        const string key = "master-key.check";
        var expected = masterKey.CheckValue;
        var stored = await db.Settings.AsNoTracking().Where(s => s.Key == key).Select(s => s.Value).FirstOrDefaultAsync(cancellationToken);
        if (stored is null)
        {
            db.Settings.Add(new Entities.Setting { Key = key, Value = expected, UpdatedAt = DateTime.UtcNow });
            await db.SaveChangesAsync(cancellationToken);
        }
        else if (stored != expected)
        {
            throw new StartupException(
                $"The master key ({MasterKey.EnvironmentVariable} or {options.MasterKeyFile}) is not the one the store {options.DatabasePath} was created with. Use the original key; Hoop will not start with another, because the stored secrets cannot be read with it.");
        }
    }

    private void RestrictFiles()
    {
        foreach (var (path, was, now) in StoreFiles.Restrict(options))
        {
            LogRestricted(path, Octal(was), Octal(now));
        }
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8).PadLeft(4, '0');

    /// <summary>Closes the idle pooled connections, so a stopped host holds no file handles on the store.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        using var connection = new SqliteConnection(options.ConnectionString);
        SqliteConnection.ClearPool(connection);
        return Task.CompletedTask;
    }

    [LoggerMessage(1001, LogLevel.Information, "Applying {Count} migration(s) to {Path}")]
    private partial void LogMigrating(int count, string path);

    [LoggerMessage(1002, LogLevel.Information, "Store ready at {Path}")]
    private partial void LogReady(string path);

    [LoggerMessage(1003, LogLevel.Warning, "{Path} could be read or written by others (mode {Was}); made it owner-only ({Now})")]
    private partial void LogRestricted(string path, string was, string now);
}
