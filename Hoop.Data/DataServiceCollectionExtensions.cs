using Hoop.Data.Audit;
using Hoop.Data.Logging;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Hoop.Data;

public static class DataServiceCollectionExtensions
{
    /// <summary>
    /// Creates the data folder if needed and checks that Hoop can write there.
    /// Returns whether a store already exists in it.
    /// </summary>
    public static bool PrepareDataFolder(StoreOptions options)
    {
        try
        {
            // A new folder is the Hoop user's alone; an existing one is checked by the store's start (StoreFiles).
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(options.DataFolder);
            }
            else
            {
                Directory.CreateDirectory(options.DataFolder, StoreFiles.FolderMode);
            }

            var probe = Path.Combine(options.DataFolder, $".write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new StartupException(
                $"Hoop:DataFolder '{options.DataFolder}' cannot be used ({e.Message}). Point Hoop:DataFolder (or HOOP__DATAFOLDER) at a folder the Hoop user can create and write.", e);
        }

        return File.Exists(options.DatabasePath);
    }

    /// <summary>The store, secret protection with the key ring in the store, the log sink's writer, the audit log.</summary>
    public static IServiceCollection AddHoopData(this IServiceCollection services, StoreOptions options, MasterKey masterKey, SqliteLogSink logSink)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddSingleton(masterKey);
        services.AddSingleton(logSink);
        services.AddPooledDbContextFactory<HoopDbContext>(o => o.UseSqlite(options.ConnectionString));

        // The first hosted service, before Data Protection's own (which reads the key ring from the store):
        // everything after it may use the store.
        services.AddHostedService<StoreInitializer>();

        services.AddDataProtection().SetApplicationName("Hoop");
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp => new ConfigureOptions<KeyManagementOptions>(o =>
        {
            o.XmlRepository = new StoreXmlRepository(sp.GetRequiredService<IDbContextFactory<HoopDbContext>>());
            o.XmlEncryptor = new MasterKeyXmlEncryptor(masterKey);
        }));
        services.AddSingleton<SecretProtector>();
        services.AddSingleton<AuditLog>();
        services.AddSingleton<RecordSeal>();
        services.AddSingleton<AuditChain>();
        services.AddHostedService(sp => sp.GetRequiredService<AuditChain>());
        services.AddHealthChecks().AddCheck<StoreHealthCheck>("store", tags: ["ready"]);
        return services;
    }
}
