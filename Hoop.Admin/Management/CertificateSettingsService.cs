using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>
/// A change of host names and ACME settings. A null field keeps what is in force; an empty directory URL turns ACME
/// off; an empty EAB key id drops External Account Binding. The EAB MAC key is write-only.
/// </summary>
public sealed record CertificateSettingsInput(IReadOnlyList<string>? HostNames, string? DirectoryUrl, string? Email, string? EabKeyId,
    string? EabMacKey, string? Challenge, string? KeyType);

/// <summary>
/// The settings in force; the trusted-roots file, the alert webhook and whether the CA issues reserved names come
/// from appsettings.json only. <see cref="AcmeLeftOut"/> says which host names ACME leaves out of its orders, and why.
/// </summary>
public sealed record CertificateSettingsView(IReadOnlyList<string> HostNames, string? DirectoryUrl, string? Email, string? EabKeyId,
    bool EabMacKeySet, string Challenge, string KeyType, string? TrustedRootsFile, string? AlertWebhook, bool Saved,
    bool AllowReservedNames, IReadOnlyList<string> AcmeLeftOut, string Version);

/// <summary>Reads and changes the host names and ACME settings: appsettings.json's, until an admin saves others.</summary>
public sealed class CertificateSettingsService(
    IDbContextFactory<HoopDbContext> contexts,
    SecretProtector secrets,
    AuditLog audit,
    PolicyStore policy,
    TimeProvider time)
{
    private const int MaxHostNames = 100; // What Let's Encrypt and most CAs allow on one certificate.

    public async Task<CertificateSettingsView> GetAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return View(policy.Current.Certificates, await db.SettingVersionAsync(HoopDbContext.CertificateSettingKey, cancellationToken));
    }

    public async Task<ChangeResult<CertificateSettingsView>> SaveAsync(CertificateSettingsInput input, string? expectedVersion, string actor, CancellationToken cancellationToken)
    {
        var current = policy.Current.Certificates;
        var errors = new FieldErrors();
        var next = Merge(input, current, errors);
        if (errors.Any || next is null)
        {
            return ChangeResult<CertificateSettingsView>.Invalid(errors.ToDictionary());
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var version = await db.SettingVersionAsync(HoopDbContext.CertificateSettingKey, cancellationToken);
        if (ChangeResult<CertificateSettingsView>.IsStale(version, expectedVersion))
        {
            return ChangeResult<CertificateSettingsView>.Stale();
        }

        var stored = next.ToStored(secrets);
        var row = await db.PutSettingAsync(HoopDbContext.CertificateSettingKey, stored, time.GetUtcNow().UtcDateTime, cancellationToken);

        db.AuditEvents.Add(audit.Create(actor, "settings.certificates", null, AuditOutcome.Success,
            // The same (empty) version in both pictures: the audit's before and after differ in the settings alone.
            new { before = View(current, ""), after = View(next, "") }));
        await db.SaveChangesAsync(cancellationToken);
        await policy.RefreshAsync(cancellationToken);
        return new(ChangeStatus.Ok, View(next, row.Version.ToString("n")));
    }

    /// <summary>The input over the current settings, every field checked; null when a field is wrong.</summary>
    private static CertificateSettings? Merge(CertificateSettingsInput input, CertificateSettings current, FieldErrors errors)
    {
        if (!(FieldRules.Items(errors, "hostNames", input.HostNames) & FieldRules.Line(errors, "directoryUrl", input.DirectoryUrl, FieldRules.AddressLength)
            & FieldRules.Line(errors, "email", input.Email) & FieldRules.Line(errors, "eabKeyId", input.EabKeyId) & FieldRules.Line(errors, "eabMacKey", input.EabMacKey, 1024)
            & FieldRules.Line(errors, "challenge", input.Challenge, 64) & FieldRules.Line(errors, "keyType", input.KeyType, 64)))
        {
            return null;
        }

        var hostNames = current.HostNames;
        if (input.HostNames is not null)
        {
            hostNames = CertificateSettingsRules.Normalize(input.HostNames);
            if (hostNames.Count is 0 or > MaxHostNames)
            {
                errors.Add("hostNames", $"List from 1 to {MaxHostNames} host names, such as hoop.example.com.");
            }

            foreach (var problem in hostNames.Select(CertificateSettingsRules.HostName).OfType<string>())
            {
                errors.Add("hostNames", problem);
            }
        }

        var acme = current.Acme;
        if (input.DirectoryUrl is { } directory)
        {
            Uri? url = null;
            if (directory.Trim() is { Length: > 0 } text && CertificateSettingsRules.DirectoryUrl(text, out url) is { } problem)
            {
                errors.Add("directoryUrl", problem);
            }

            acme = acme with { DirectoryUrl = url };
        }

        if (input.Email is { } email)
        {
            email = email.Trim();
            if (email.Length > 0 && CertificateSettingsRules.Email(email) is { } problem)
            {
                errors.Add("email", problem);
            }

            acme = acme with { Email = email.Length > 0 ? email : null };
        }

        acme = MergeEab(input, acme, errors);
        if (input.Challenge is { } challengeText)
        {
            if (CertificateSettingsRules.Challenge(challengeText, out var challenge) is { } problem)
            {
                errors.Add("challenge", problem);
            }

            acme = acme with { Challenge = challenge };
        }

        if (input.KeyType is { } keyTypeText)
        {
            if (CertificateSettingsRules.KeyType(keyTypeText, out var keyType) is { } problem)
            {
                errors.Add("keyType", problem);
            }

            acme = acme with { KeyType = keyType };
        }

        if (errors.Any)
        {
            return null;
        }

        var next = new CertificateSettings(hostNames, acme);
        if (acme.Enabled && next.AcmeHostNames.Count == 0)
        {
            // Names only a self-signed certificate can cover would fail every order: refused here rather than at the CA.
            errors.Add("hostNames", "ACME needs at least one host name a CA can issue, such as hoop.example.com.");
            foreach (var reason in next.AcmeLeftOut)
            {
                errors.Add("hostNames", reason);
            }

            return null;
        }

        return next;
    }

    private static AcmeOptions MergeEab(CertificateSettingsInput input, AcmeOptions acme, FieldErrors errors)
    {
        var keyId = input.EabKeyId?.Trim();
        var macKey = input.EabMacKey?.Trim();
        if (keyId is "")
        {
            return acme with { EabKeyId = null, EabMacKey = null };
        }

        if (!string.IsNullOrEmpty(macKey) && CertificateSettingsRules.EabMacKey(macKey) is { } problem)
        {
            errors.Add("eabMacKey", problem);
        }

        keyId ??= acme.EabKeyId;
        macKey = string.IsNullOrEmpty(macKey) ? acme.EabMacKey : macKey;
        if (keyId is not null && (macKey is null || (keyId != acme.EabKeyId && string.IsNullOrEmpty(input.EabMacKey))))
        {
            errors.Add("eabMacKey", "Give the MAC key that belongs to this EAB key id.");
        }
        else if (keyId is null && !string.IsNullOrEmpty(input.EabMacKey))
        {
            errors.Add("eabKeyId", "Give the EAB key id that belongs to this MAC key.");
        }

        return acme with { EabKeyId = keyId, EabMacKey = keyId is null ? null : macKey };
    }

    private static CertificateSettingsView View(CertificateSettings s, string version) => new(
        s.HostNames, s.Acme.DirectoryUrl?.ToString(), s.Acme.Email, s.Acme.EabKeyId, s.Acme.EabMacKey is not null,
        CertificateSettingsRules.Name(s.Acme.Challenge), CertificateSettingsRules.Name(s.Acme.KeyType),
        s.Acme.TrustedRootsFile, s.Acme.AlertWebhook?.ToString(), version != HoopDbContext.ConfiguredVersion, s.Acme.AllowReservedNames,
        s.Acme.Enabled ? s.AcmeLeftOut : [], version);
}
