using Hoop.Data.Entities;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Data.Store;

/// <summary>
/// The store. Kept free of SQLite-only SQL so a server database can follow:
/// times are UTC <see cref="DateTime"/>, lists are JSON columns, no raw SQL in the model.
/// </summary>
public sealed class HoopDbContext(DbContextOptions<HoopDbContext> options) : DbContext(options)
{
    public DbSet<Connection> Connections => Set<Connection>();
    public DbSet<Group> Groups => Set<Group>();
    public DbSet<Grant> Grants => Set<Grant>();
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<MaskingRule> MaskingRules => Set<MaskingRule>();
    public DbSet<GuardrailRule> GuardrailRules => Set<GuardrailRule>();
    public DbSet<Review> Reviews => Set<Review>();
    public DbSet<ReviewDecision> ReviewDecisions => Set<ReviewDecision>();
    public DbSet<Session> Sessions => Set<Session>();
    public DbSet<SessionEvent> SessionEvents => Set<SessionEvent>();
    public DbSet<SessionChunk> SessionChunks => Set<SessionChunk>();
    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();
    public DbSet<Certificate> Certificates => Set<Certificate>();
    public DbSet<AcmeAccount> AcmeAccounts => Set<AcmeAccount>();
    public DbSet<LogEvent> LogEvents => Set<LogEvent>();
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();
    public DbSet<LocalAdmin> LocalAdmins => Set<LocalAdmin>();
    public DbSet<Setting> Settings => Set<Setting>();
    public DbSet<IdentityIssuer> IdentityIssuers => Set<IdentityIssuer>();

    protected override void OnModelCreating(ModelBuilder modelBuilder) =>
        modelBuilder.ApplyConfigurationsFromAssembly(typeof(HoopDbContext).Assembly);

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // Enums as their names: readable in the file, stable when members are reordered.
        configurationBuilder.Properties<ConnectionKind>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<TlsVerification>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<CredentialKind>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<MaskStyle>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<GuardrailProtocol>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<GuardrailAction>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<ReviewStatus>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<ReviewScope>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<SessionStatus>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<AuditOutcome>().HaveConversion<string>().HaveMaxLength(32);
        configurationBuilder.Properties<CertificateSource>().HaveConversion<string>().HaveMaxLength(32);
        // Every time is stored in UTC; read back as UTC, so JSON, exports and the console write it with its 'Z'.
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcOnRead>();
        configurationBuilder.Properties<DateTime?>().HaveConversion<UtcOnRead>();
    }

    private sealed class UtcOnRead() : Microsoft.EntityFrameworkCore.Storage.ValueConversion.ValueConverter<DateTime, DateTime>(
        value => value, value => DateTime.SpecifyKind(value, DateTimeKind.Utc));

    /// <summary>The Settings key whose value changes whenever anything the data path's policy is built from changes.</summary>
    public const string PolicyVersionKey = "policy.version";

    /// <summary>The recording settings changed in the console (JSON); they override Hoop:Recording.</summary>
    public const string RecordingSettingKey = "policy.recording";

    /// <summary>The host names and ACME settings saved in the console (JSON; the EAB MAC key encrypted).</summary>
    public const string CertificateSettingKey = "policy.certificates";

    /// <summary>The version of a setting's row as an ETag carries it; "configured" while none is saved (appsettings.json's apply).</summary>
    public async Task<string> SettingVersionAsync(string key, CancellationToken cancellationToken) =>
        await Settings.AsNoTracking().Where(s => s.Key == key).Select(s => (Guid?)s.Version).FirstOrDefaultAsync(cancellationToken) is { } version
            ? version.ToString("n")
            : ConfiguredVersion;

    public const string ConfiguredVersion = "configured";

    /// <summary>Sets a Settings row (added or changed), saved with the next SaveChanges; returns the row, whose version that save sets.</summary>
    public async Task<Setting> PutSettingAsync(string key, string value, DateTime now, CancellationToken cancellationToken)
    {
        var row = await Settings.FirstOrDefaultAsync(s => s.Key == key, cancellationToken);
        if (row is null)
        {
            row = new Setting { Key = key, Value = value, UpdatedAt = now };
            Settings.Add(row);
        }
        else
        {
            row.Value = value;
            row.UpdatedAt = now;
        }

        return row;
    }

    public override int SaveChanges(bool acceptAllChangesOnSuccess)
    {
        BumpVersions();
        if (PolicyChanged())
        {
            StampPolicyVersion(Settings.Find(PolicyVersionKey));
        }

        return base.SaveChanges(acceptAllChangesOnSuccess);
    }

    public override async Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        BumpVersions();
        if (PolicyChanged())
        {
            StampPolicyVersion(await Settings.FindAsync([PolicyVersionKey], cancellationToken));
        }

        return await base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    // Connections, groups, grants, keys and rules feed the data path's snapshot; every instance sharing
    // the store polls this one row and rebuilds its snapshot when it changes.
    private bool PolicyChanged() => ChangeTracker.Entries().Any(e =>
        e.State is EntityState.Added or EntityState.Modified or EntityState.Deleted
        && (e.Entity is Connection or Group or Grant or ApiKey or MaskingRule or GuardrailRule or IdentityIssuer
            || e.Entity is Setting { Key: not PolicyVersionKey } setting && setting.Key.StartsWith("policy.", StringComparison.Ordinal)));

    private void StampPolicyVersion(Setting? stamp)
    {
        var value = Guid.NewGuid().ToString("n");
        if (stamp is null)
        {
            Settings.Add(new Setting { Key = PolicyVersionKey, Value = value, UpdatedAt = DateTime.UtcNow });
        }
        else
        {
            stamp.Value = value;
            stamp.UpdatedAt = DateTime.UtcNow;
        }
    }

    // The old version stays the concurrency check; the row gets a new one, so the next stale edit fails.
    private void BumpVersions()
    {
        foreach (var entry in ChangeTracker.Entries<IVersioned>())
        {
            if (entry.State == EntityState.Modified)
            {
                entry.Entity.Version = Guid.NewGuid();
            }
        }
    }
}
