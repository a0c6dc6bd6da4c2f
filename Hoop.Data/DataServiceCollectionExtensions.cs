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

    /// <summary>
    /// The store, secret protection with the key ring in the store, the log sink's writer, the audit log. Needs
    /// <see cref="StoreOptions"/> registered; the master key is loaded (and the data folder made ready) when first
    /// asked for, with <paramref name="masterKeyFromEnvironment"/> (HOOP_MASTER_KEY) winning over the key file.
    /// </summary>
    public static IServiceCollection AddHoopData(this IServiceCollection services, string? masterKeyFromEnvironment)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<StoreOptions>();
            var storeExists = PrepareDataFolder(options);
            return MasterKey.Load(options, masterKeyFromEnvironment, storeExists);
        });
        services.AddSingleton(sp => new SqliteLogSink(sp.GetRequiredService<StoreOptions>().LogQueueCapacity));
        services.AddPooledDbContextFactory<HoopDbContext>((sp, o) => o.UseSqlite(sp.GetRequiredService<StoreOptions>().ConnectionString));

        // The first hosted service, before Data Protection's own (which reads the key ring from the store):
        // everything after it may use the store.
        services.AddHostedService<StoreInitializer>();

        services.AddDataProtection().SetApplicationName("Hoop");
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp => new ConfigureOptions<KeyManagementOptions>(o =>
        {
            o.XmlRepository = new StoreXmlRepository(sp.GetRequiredService<IDbContextFactory<HoopDbContext>>());
            o.XmlEncryptor = new MasterKeyXmlEncryptor(sp.GetRequiredService<MasterKey>());
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
