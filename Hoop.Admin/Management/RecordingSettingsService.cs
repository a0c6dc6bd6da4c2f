using System.Text.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>The recording settings an admin may change while Hoop runs (the queue's size needs a restart).</summary>
public sealed record RecordingSettingsInput(RecordingMode? Mode, int? MaxBodyKilobytes, int? SessionIdleMinutes, bool? UsersSeeOwnSessions = null);

public sealed record RecordingSettingsView(RecordingMode Mode, int MaxBodyKilobytes, int SessionIdleMinutes, int QueueCapacity, bool Saved,
    bool UsersSeeOwnSessions, string Version);

/// <summary>Reads and changes the recording settings in force: appsettings.json's, until an admin saves others.</summary>
public sealed class RecordingSettingsService(
    IDbContextFactory<HoopDbContext> contexts,
    RecordingOptions configured,
    AuditLog audit,
    PolicyStore policy,
    TimeProvider time)
{
    public async Task<RecordingSettingsView> GetAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return View(policy.Current.Recording, await db.SettingVersionAsync(HoopDbContext.RecordingSettingKey, cancellationToken));
    }

    public async Task<ChangeResult<RecordingSettingsView>> SaveAsync(RecordingSettingsInput input, string? expectedVersion, string actor, CancellationToken cancellationToken)
    {
        var current = policy.Current.Recording;
        var errors = new FieldErrors();
        FieldRules.Defined(errors, "mode", input.Mode);
        if (input.MaxBodyKilobytes is < 0 or > 10 * 1024)
        {
            errors.Add("maxBodyKilobytes", "Keep from 0 (metadata only) to 10,240 KiB of each body.");
        }

        if (input.SessionIdleMinutes is < 1 or > 24 * 60)
        {
            errors.Add("sessionIdleMinutes", "A session may stay idle from 1 minute to 24 hours.");
        }

        if (errors.Any)
        {
            return ChangeResult<RecordingSettingsView>.Invalid(errors.ToDictionary());
        }

        var next = new RecordingSettings(
            input.Mode ?? current.Mode,
            input.MaxBodyKilobytes is { } kb ? kb * 1024 : current.MaxBodyBytes,
            input.SessionIdleMinutes is { } minutes ? TimeSpan.FromMinutes(minutes) : current.SessionIdleTimeout,
            input.UsersSeeOwnSessions ?? current.UsersSeeOwnSessions);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var version = await db.SettingVersionAsync(HoopDbContext.RecordingSettingKey, cancellationToken);
        if (ChangeResult<RecordingSettingsView>.IsStale(version, expectedVersion))
        {
            return ChangeResult<RecordingSettingsView>.Stale();
        }

        var json = JsonSerializer.Serialize(next, PolicyStore.RecordingSettingsJson);
        var row = await db.PutSettingAsync(HoopDbContext.RecordingSettingKey, json, time.GetUtcNow().UtcDateTime, cancellationToken);

        db.AuditEvents.Add(audit.Create(actor, "settings.recording", null, AuditOutcome.Success,
            // The same (empty) version in both pictures: the audit's before and after differ in the settings alone.
            new { before = View(current, ""), after = View(next, "") }));
        await db.SaveChangesAsync(cancellationToken);
        await policy.RefreshAsync(cancellationToken);
        return new(ChangeStatus.Ok, View(next, row.Version.ToString("n")));
    }

    private RecordingSettingsView View(RecordingSettings s, string version) =>
        new(s.Mode, s.MaxBodyBytes / 1024, (int)s.SessionIdleTimeout.TotalMinutes, configured.QueueCapacity, version != HoopDbContext.ConfiguredVersion,
            s.UsersSeeOwnSessions, version);
}
