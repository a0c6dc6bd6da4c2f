using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Hoop.Data.Entities;

/// <summary>One log line written by the SQLite log sink.</summary>
public sealed class LogEvent
{
    public long Id { get; set; }
    public DateTime Timestamp { get; set; }
    public required string Level { get; set; }
    public string? Category { get; set; }
    public int EventId { get; set; }
    public required string Message { get; set; }
    public string? Exception { get; set; }
}

/// <summary>One Data Protection key, as XML whose secret part is encrypted with the master key.</summary>
public sealed class DataProtectionKey
{
    public int Id { get; set; }
    public string? FriendlyName { get; set; }
    public required string Xml { get; set; }
}

/// <summary>The local break-glass administrator, for first setup and for when the identity provider is down.</summary>
public sealed class LocalAdmin
{
    public int Id { get; set; }
    public required string UserName { get; set; }

    /// <summary>PBKDF2 hash, see <see cref="Secrets.PasswordHash"/>.</summary>
    public required string PasswordHash { get; set; }

    public DateTime CreatedAt { get; set; }
    public DateTime PasswordChangedAt { get; set; }
    public DateTime? LastLoginAt { get; set; }
}

/// <summary>A setting changed in the console, stored as JSON under a key; it overrides appsettings.json.</summary>
public sealed class Setting : IVersioned
{
    public required string Key { get; set; }
    public required string Value { get; set; }
    public DateTime UpdatedAt { get; set; }
    public Guid Version { get; set; } = Guid.NewGuid();
}

internal sealed class OperationsConfiguration :
    IEntityTypeConfiguration<LogEvent>, IEntityTypeConfiguration<DataProtectionKey>,
    IEntityTypeConfiguration<LocalAdmin>, IEntityTypeConfiguration<Setting>
{
    public void Configure(EntityTypeBuilder<LogEvent> b)
    {
        b.HasIndex(e => e.Timestamp);
        b.Property(e => e.Level).HasMaxLength(16);
    }

    public void Configure(EntityTypeBuilder<DataProtectionKey> b) { }

    public void Configure(EntityTypeBuilder<LocalAdmin> b)
    {
        b.HasIndex(a => a.UserName).IsUnique();
    }

    public void Configure(EntityTypeBuilder<Setting> b)
    {
        b.HasKey(s => s.Key);
        b.Property(s => s.Version).IsConcurrencyToken();
    }
}

/// <summary>A record edited in the console: its version changes on every save, so a stale edit is refused.</summary>
public interface IVersioned
{
    Guid Version { get; set; }
}
