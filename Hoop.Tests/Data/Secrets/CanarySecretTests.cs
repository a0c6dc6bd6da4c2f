using System.Text;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Tests.Support;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Data.Secrets;

public sealed class CanarySecretTests : IDisposable
{
    private const string Canary = "canary-8d1f0c5e-backend-password-7a41";
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task StoredCredential_NeverInPlaintextInTheDatabaseOrItsWal()
    {
        var id = Guid.Empty;
        await using (var host = await HoopTestHost.StartAsync(_folder.Path))
        {
            var secrets = host.Services.GetRequiredService<SecretProtector>();
            await using var db = await host.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
            var connection = new Connection
            {
                Name = "billing-db",
                Kind = ConnectionKind.Postgres,
                Address = "db.internal:5432",
                CredentialKind = CredentialKind.DatabasePassword,
                CredentialName = "billing",
                ProtectedCredential = secrets.Protect(Canary),
            };
            db.Connections.Add(connection);
            await db.SaveChangesAsync();
            id = connection.Id;

            // Both places SQLite keeps data: the WAL before a checkpoint, the main file after.
            AssertNotInFiles();
            await db.Database.ExecuteSqlRawAsync("PRAGMA wal_checkpoint(FULL);");
            AssertNotInFiles();
        }

        // After a restart (same master key file) the secret still decrypts: it was stored, not lost.
        await using var restarted = await HoopTestHost.StartAsync(_folder.Path);
        await using var again = await restarted.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        var stored = await again.Connections.SingleAsync(c => c.Id == id);
        Assert.Equal(Canary, restarted.Services.GetRequiredService<SecretProtector>().UnprotectString(stored.ProtectedCredential!));
        AssertNotInFiles();
    }

    private void AssertNotInFiles()
    {
        foreach (var file in Directory.GetFiles(_folder.Path, "hoop.db*"))
        {
            var bytes = File.ReadAllBytes(file);
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(Canary)));
            Assert.Equal(-1, bytes.AsSpan().IndexOf(Encoding.Unicode.GetBytes(Canary)));
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }
}
