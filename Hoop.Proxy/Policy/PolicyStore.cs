using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Proxy.Guardrails.Rules;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace Hoop.Proxy.Policy;

/// <summary>
/// Holds the current <see cref="PolicySnapshot"/>. Every second it reads the store's policy version (one row)
/// and, when it changed, builds a new snapshot and swaps it in; <see cref="ReloadNow"/> asks for that at once.
/// Like YARP's in-memory config provider: an immutable snapshot in a volatile field, and a change token that
/// fires after each swap. Requests in flight keep the snapshot they started with.
/// </summary>
public sealed partial class PolicyStore(
    IDbContextFactory<HoopDbContext> contexts,
    SecretProtector secrets,
    MasterKey masterKey,
    IdentityOptions identity,
    RecordingOptions recording,
    CertificateSettings certificates,
    TimeProvider time,
    ILogger<PolicyStore> logger) : BackgroundService
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);

    private volatile PolicySnapshot _current = PolicySnapshot.Empty;
    private CancellationTokenSource _changed = new();
    private readonly SemaphoreSlim _wake = new(0, 1);

    public PolicySnapshot Current => _current;

    /// <summary>Fires once, after the snapshot it was taken with has been replaced.</summary>
    public IChangeToken ChangeToken => new CancellationChangeToken(_changed.Token);

    /// <summary>Builds the first snapshot before the host starts serving.</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await RefreshAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    /// <summary>Asks for a rebuild now (the console calls this after saving).</summary>
    public void ReloadNow()
    {
        if (_wake.CurrentCount == 0)
        {
            try
            {
                _wake.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already signalled.
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(PollInterval, stoppingToken);
                await RefreshAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is DbUpdateException or Microsoft.Data.Sqlite.SqliteException or CryptographicException or InvalidOperationException)
            {
                // Keep serving the last good snapshot; try again at the next tick.
                LogRefreshFailed(e);
            }
        }
    }

    /// <summary>Rebuilds the snapshot if the store's policy version differs from the current one.</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var version = await db.Settings.AsNoTracking()
            .Where(s => s.Key == HoopDbContext.PolicyVersionKey).Select(s => s.Value)
            .FirstOrDefaultAsync(cancellationToken) ?? "initial";
        if (version == _current.Version)
        {
            return;
        }

        var snapshot = await BuildAsync(db, version, cancellationToken);
        var previous = Interlocked.Exchange(ref _changed, new CancellationTokenSource());
        _current = snapshot;
        await previous.CancelAsync();
        previous.Dispose();
        LogSwapped(snapshot.Connections.Count, snapshot.Groups.Count, snapshot.ApiKeysByHash.Count);
    }

    private async Task<PolicySnapshot> BuildAsync(HoopDbContext db, string version, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var connections = await db.Connections.AsNoTracking().ToListAsync(cancellationToken);
        var groups = await db.Groups.AsNoTracking().Include(g => g.Grants).ToListAsync(cancellationToken);
        var keys = await db.ApiKeys.AsNoTracking()
            .Where(k => k.RevokedAt == null && (k.ExpiresAt == null || k.ExpiresAt > now))
            .ToListAsync(cancellationToken);
        var issuers = await db.IdentityIssuers.AsNoTracking().ToListAsync(cancellationToken);
        var masking = await db.MaskingRules.AsNoTracking().Where(r => r.Enabled).OrderBy(r => r.CreatedAt).ToListAsync(cancellationToken);
        var groupNames = groups.ToDictionary(g => g.Id, g => g.Name);
        var guardrails = await db.GuardrailRules.AsNoTracking().Where(r => r.Enabled)
            .OrderBy(r => r.CreatedAt).ToListAsync(cancellationToken);
        var settings = await db.Settings.AsNoTracking()
            .Where(s => s.Key == HoopDbContext.RecordingSettingKey || s.Key == HoopDbContext.CertificateSettingKey)
            .ToDictionaryAsync(s => s.Key, s => s.Value, cancellationToken);

        // Names are unique in the store but compared case-insensitively on the data path: the first one wins.
        var compiled = connections.OrderBy(c => c.CreatedAt).Select(CompileOrSkip).OfType<ConnectionPolicy>()
            .DistinctBy(c => c.Name, StringComparer.OrdinalIgnoreCase);
        return new PolicySnapshot(
            version,
            compiled,
            groups.Select(g => new GroupPolicy(g.Name, g.Roles, g.Grants.Select(x => x.ConnectionId).ToHashSet(), g.Issuer)),
            keys.Select(k => new ApiKeyPolicy(k.Id, k.Name, k.KeyHash, k.Groups, k.ExpiresAt)),
            identity.Issuers.Concat(issuers.Select(CompileOrSkip).OfType<IssuerOptions>()),
            RecordingOf(settings.GetValueOrDefault(HoopDbContext.RecordingSettingKey)),
            CertificatesOf(settings.GetValueOrDefault(HoopDbContext.CertificateSettingKey)),
            masking.Select(r => CompileOrSkip(r, groupNames)).OfType<CompiledMaskingRule>().ToList(),
            _pseudonymKey ??= masterKey.Derive("hoop masking pseudonyms v1"),
            guardrails.Select(r => CompileOrSkip(r, groupNames)).OfType<Guardrail>().ToList());
    }

    private Guardrail? CompileOrSkip(GuardrailRule rule, Dictionary<Guid, string> groupNames)
    {
        try
        {
            return Guardrail.Compile(rule, rule.ReviewerGroupId is { } id ? groupNames.GetValueOrDefault(id) : null);
        }
        catch (ArgumentException e)
        {
            LogGuardrailSkipped(rule.Name, e.Message);
            return null;
        }
    }

    private byte[]? _pseudonymKey;

    /// <summary>Rules are checked at save; one that no longer compiles (a group since deleted) is left out and logged.</summary>
    private CompiledMaskingRule? CompileOrSkip(MaskingRule rule, Dictionary<Guid, string> groupNames)
    {
        try
        {
            string? group = null;
            if (rule.GroupId is { } id && !groupNames.TryGetValue(id, out group))
            {
                throw new ArgumentException("its group no longer exists");
            }

            return CompiledMaskingRule.Compile(rule, group);
        }
        catch (ArgumentException e)
        {
            LogMaskingRuleSkipped(rule.Name, e.Message);
            return null;
        }
    }

    /// <summary>The console's saved certificate settings over appsettings.json's; unreadable ones count as none saved.</summary>
    private CertificateSettings CertificatesOf(string? json)
    {
        try
        {
            return json is null ? certificates : CertificateSettings.FromStored(json, certificates, secrets);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or CryptographicException or UriFormatException)
        {
            LogCertificateSettingsUnreadable(e.GetType().Name);
            return certificates;
        }
    }

    /// <summary>The console's saved recording settings over appsettings.json's; unreadable JSON counts as none saved.</summary>
    private RecordingSettings RecordingOf(string? json)
    {
        var defaults = RecordingSettings.From(recording);
        try
        {
            if (json is null || System.Text.Json.JsonSerializer.Deserialize<RecordingSettings>(json, RecordingSettingsJson) is not { } saved)
            {
                return defaults;
            }

            // Saved before the setting existed: appsettings.json's value stands, not a silent "false".
            return json.Contains("\"usersSeeOwnSessions\"", StringComparison.Ordinal) ? saved : saved with { UsersSeeOwnSessions = defaults.UsersSeeOwnSessions };
        }
        catch (System.Text.Json.JsonException e)
        {
            LogRecordingSettingsUnreadable(e.Message);
            return defaults;
        }
    }

    /// <summary>How the recording settings are stored in the Settings table.</summary>
    public static readonly System.Text.Json.JsonSerializerOptions RecordingSettingsJson = new(System.Text.Json.JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    private IssuerOptions? CompileOrSkip(IdentityIssuer i)
    {
        try
        {
            var issuer = new IssuerOptions
            {
                Id = i.Id,
                Authority = i.Authority,
                Audience = i.Audience,
                GroupsClaim = i.GroupsClaim,
                RequireHttpsMetadata = i.RequireHttpsMetadata,
                DisplayName = i.DisplayName,
                ClientId = i.ClientId,
                ClientSecret = i.ProtectedClientSecret is null ? null : secrets.UnprotectString(i.ProtectedClientSecret),
                CaBundlePem = i.CaBundlePem,
            };
            _ = issuer.CaBundle; // A bundle that does not read leaves the issuer out, like a secret that does not decrypt.
            return issuer;
        }
        catch (CryptographicException e)
        {
            LogIssuerSkipped(i.Authority, e.GetType().Name);
            return null;
        }
    }

    /// <summary>One connection that cannot be compiled (a secret that does not decrypt, a bad bundle) is left out, not all.</summary>
    private ConnectionPolicy? CompileOrSkip(Connection c)
    {
        try
        {
            return Compile(c);
        }
        catch (Exception e) when (e is CryptographicException or FormatException or ArgumentException)
        {
            LogConnectionSkipped(c.Name, e.GetType().Name);
            return null;
        }
    }

    /// <summary>A stored connection compiled for the data path; one that cannot be (bad address) is left out and logged.</summary>
    private ConnectionPolicy? Compile(Connection c)
    {
        if (!Uri.TryCreate(c.Kind == ConnectionKind.Http ? c.Address : $"tcp://{c.Address}", UriKind.Absolute, out var address))
        {
            LogConnectionSkipped(c.Name, "address is not a URL");
            return null;
        }

        // Plain http to a backend only when an admin chose it explicitly; never by accident of a URL.
        if (c.Kind == ConnectionKind.Http && (address.Scheme == Uri.UriSchemeHttp) != (c.TlsVerification == TlsVerification.Plaintext))
        {
            LogConnectionSkipped(c.Name, address.Scheme == Uri.UriSchemeHttp
                ? "an http:// address needs TLS verification 'Plaintext', set explicitly"
                : "TLS verification 'Plaintext' needs an http:// address");
            return null;
        }

        string? secret = null;
        X509Certificate2? clientCertificate = null;
        if (c.ProtectedCredential is not null)
        {
            if (c.CredentialKind == CredentialKind.ClientCertificate)
            {
                clientCertificate = X509CertificateLoader.LoadPkcs12(secrets.UnprotectBytes(c.ProtectedCredential), null);
            }
            else
            {
                secret = secrets.UnprotectString(c.ProtectedCredential);
            }
        }

        X509Certificate2Collection? bundle = null;
        if (c.TlsVerification == TlsVerification.CaBundle && c.CaBundlePem is not null)
        {
            bundle = [];
            bundle.ImportFromPem(c.CaBundlePem);
        }

        return new ConnectionPolicy
        {
            Id = c.Id,
            Name = c.Name,
            Kind = c.Kind,
            Address = address,
            Enabled = c.Enabled,
            TlsVerification = c.TlsVerification,
            CaBundle = bundle,
            PinnedSha256 = c.PinnedCertificateSha256?.Replace(":", "", StringComparison.Ordinal).ToUpperInvariant(),
            CredentialKind = c.CredentialKind,
            CredentialName = c.CredentialName,
            CredentialSecret = secret,
            Secrets = Credentials.SecretScrubber.For(c.CredentialKind, c.CredentialName, secret),
            ClientCertificate = clientCertificate,
            Version = c.Version.ToString("n"),
        };
    }

    [LoggerMessage(4010, LogLevel.Information, "Policy snapshot swapped in: {Connections} connection(s), {Groups} group(s), {Keys} API key(s)")]
    private partial void LogSwapped(int connections, int groups, int keys);

    [LoggerMessage(4011, LogLevel.Error, "Policy snapshot could not be rebuilt; the previous one stays in use")]
    private partial void LogRefreshFailed(Exception error);

    [LoggerMessage(4014, LogLevel.Warning, "Saved recording settings are unreadable; using appsettings.json's: {Error}")]
    private partial void LogRecordingSettingsUnreadable(string error);

    [LoggerMessage(4015, LogLevel.Warning, "Saved certificate settings are unreadable ({Error}); using appsettings.json's")]
    private partial void LogCertificateSettingsUnreadable(string error);

    [LoggerMessage(6010, LogLevel.Error, "Masking rule {Name} left out of the policy: {Reason}")]
    private partial void LogMaskingRuleSkipped(string name, string reason);

    [LoggerMessage(6011, LogLevel.Error, "Guardrail rule {Name} left out of the policy: {Reason}")]
    private partial void LogGuardrailSkipped(string name, string reason);

    [LoggerMessage(4013, LogLevel.Warning, "Issuer {Authority} left out of the policy: {Reason}")]
    private partial void LogIssuerSkipped(string authority, string reason);

    [LoggerMessage(4012, LogLevel.Warning, "Connection {Name} left out of the policy: {Reason}")]
    private partial void LogConnectionSkipped(string name, string reason);
}
