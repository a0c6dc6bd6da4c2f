using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>
/// Registers OIDC issuers: whose access tokens agents may bring, and (with a client id) where people sign in to the
/// console. Issuers of appsettings.json are listed too, read-only.
/// </summary>
public sealed class IssuerService(
    IDbContextFactory<HoopDbContext> contexts,
    SecretProtector secrets,
    IdentityOptions configured,
    AuditLog audit,
    PolicyStore policy,
    IssuerCheck check,
    TimeProvider time) : IRecordService<IssuerInput, IssuerView>
{
    public string Kind => "issuer";

    public string KeyOf(IssuerView view) => view.Id?.ToString() ?? "";

    public string? VersionOf(IssuerView view) => view.Version;

    // The API's key is the id as text; text that is no id names no issuer.
    Task<IssuerView?> IRecordService<IssuerInput, IssuerView>.GetAsync(string key, CancellationToken cancellationToken) =>
        Guid.TryParse(key, out var id) ? GetAsync(id, cancellationToken) : Task.FromResult<IssuerView?>(null);

    Task<ChangeResult<IssuerView>> IRecordService<IssuerInput, IssuerView>.CreateAsync(IssuerInput input, string actor, CancellationToken cancellationToken) =>
        SaveAsync(null, input, null, actor, cancellationToken);

    Task<ChangeResult<IssuerView>> IRecordService<IssuerInput, IssuerView>.UpdateAsync(string key, IssuerInput input, string? expectedVersion, string actor,
        CancellationToken cancellationToken) =>
        Guid.TryParse(key, out var id) ? SaveAsync(id, input, expectedVersion, actor, cancellationToken) : Task.FromResult(ChangeResult<IssuerView>.Missing());

    Task<ChangeResult<IssuerView>> IRecordService<IssuerInput, IssuerView>.DeleteAsync(string key, string? expectedVersion, string actor,
        CancellationToken cancellationToken) =>
        Guid.TryParse(key, out var id) ? DeleteAsync(id, expectedVersion, actor, cancellationToken) : Task.FromResult(ChangeResult<IssuerView>.Missing());

    public async Task<IReadOnlyList<IssuerView>> ListAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var stored = await db.IdentityIssuers.AsNoTracking().OrderBy(i => i.DisplayName).ToListAsync(cancellationToken);
        return configured.Issuers.Select(i => new IssuerView(null, i.DisplayName ?? i.Authority, i.Authority, i.Audience, i.GroupsClaim,
                i.ClientId, i.ClientSecret is not null, null, i.RequireHttpsMetadata, FromConfiguration: true, Version: null, i.CaBundlePem))
            .Concat(stored.Select(View))
            .ToList();
    }

    public async Task<IssuerView?> GetAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var issuer = await db.IdentityIssuers.AsNoTracking().FirstOrDefaultAsync(i => i.Id == id, cancellationToken);
        return issuer is null ? null : View(issuer);
    }

    public async Task<ChangeResult<IssuerView>> SaveAsync(Guid? id, IssuerInput input, string? expectedVersion, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var issuer = id is null ? null : await db.IdentityIssuers.FirstOrDefaultAsync(i => i.Id == id, cancellationToken);
        if (id is not null && ChangeResult<IssuerView>.Refuses(issuer, expectedVersion, out var refusal))
        {
            return refusal;
        }

        var requireHttps = input.RequireHttpsMetadata ?? issuer?.RequireHttpsMetadata ?? true;
        var authority = input.Authority?.Trim() ?? issuer?.Authority;
        var errors = new FieldErrors();
        var readable = FieldRules.Line(errors, "authority", input.Authority, FieldRules.AddressLength) & FieldRules.Line(errors, "audience", input.Audience, 512)
            & FieldRules.Line(errors, "groupsClaim", input.GroupsClaim, 128) & FieldRules.Line(errors, "clientId", input.ClientId)
            & FieldRules.Line(errors, "clientSecret", input.ClientSecret, 4096) & FieldRules.Line(errors, "displayName", input.DisplayName, 128);
        if (!readable)
        {
            return ChangeResult<IssuerView>.Invalid(errors.ToDictionary());
        }

        if (!Uri.TryCreate(authority, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp)
            || !string.IsNullOrEmpty(url.Query) || !string.IsNullOrEmpty(url.Fragment))
        {
            errors.Add("authority", "Give the issuer URL exactly as it appears in the tokens' iss claim (for example https://login.example.com/).");
        }
        else if (url.Scheme == Uri.UriSchemeHttp && (requireHttps || !url.IsLoopback))
        {
            errors.Add("authority", "An issuer must use https; plain http is allowed only for a provider on loopback with 'require https' turned off.");
        }

        var audience = input.Audience?.Trim() ?? issuer?.Audience;
        if (string.IsNullOrEmpty(audience) || audience.Length > 512)
        {
            errors.Add("audience", "Give the aud value agents' tokens carry for Hoop (up to 512 characters).");
        }

        var groupsClaim = (input.GroupsClaim ?? issuer?.GroupsClaim ?? "groups").Trim();
        if (groupsClaim.Length is 0 or > 128)
        {
            errors.Add("groupsClaim", "Name the claim that lists a caller's groups (usually 'groups').");
        }

        var clientId = input.ClientId is null ? issuer?.ClientId : string.IsNullOrWhiteSpace(input.ClientId) ? null : input.ClientId.Trim();
        if (clientId?.Length > 256)
        {
            errors.Add("clientId", "The client id is at most 256 characters.");
        }

        var displayName = (input.DisplayName ?? issuer?.DisplayName ?? url?.Host ?? "").Trim();
        if (displayName.Length is 0 or > 128)
        {
            errors.Add("displayName", "Give a name of up to 128 characters for the sign-in button.");
        }

        var caBundle = input.CaBundlePem is null ? issuer?.CaBundlePem : string.IsNullOrWhiteSpace(input.CaBundlePem) ? null : input.CaBundlePem.Trim();
        if (caBundle is not null)
        {
            try
            {
                _ = caBundle.Length > MaxCaBundleLength ? throw new System.Security.Cryptography.CryptographicException() : IssuerOptions.ReadBundle(caBundle);
            }
            catch (System.Security.Cryptography.CryptographicException)
            {
                errors.Add("caBundlePem", $"Give the CA certificates as PEM (-----BEGIN CERTIFICATE----- ...), up to {MaxCaBundleLength / 1024} KB.");
            }
        }

        if (!errors.Any && (configured.Issuers.Any(i => i.Authority == authority)
            || await db.IdentityIssuers.AnyAsync(i => i.Authority == authority && i.Id != (issuer == null ? Guid.Empty : issuer.Id), cancellationToken)))
        {
            return new(ChangeStatus.Conflict, Errors: new Dictionary<string, string[]> { ["authority"] = [$"The issuer '{authority}' is registered already."] });
        }

        if (errors.Any)
        {
            return ChangeResult<IssuerView>.Invalid(errors.ToDictionary());
        }

        // Read discovery and keys as the data path will, so a provider Hoop cannot use is refused now, with the reason.
        var problem = await check.CheckAsync(new IssuerOptions
        {
            Authority = authority!,
            Audience = audience!,
            RequireHttpsMetadata = requireHttps,
            CaBundlePem = caBundle,
        }, cancellationToken);
        if (problem is not null)
        {
            return ChangeResult<IssuerView>.Invalid(new Dictionary<string, string[]> { [problem.Field] = [problem.Message] });
        }

        var now = time.GetUtcNow().UtcDateTime;
        var before = issuer is null ? null : Describe(issuer);
        if (issuer is null)
        {
            issuer = new IdentityIssuer { DisplayName = displayName, Authority = authority!, Audience = audience!, CreatedAt = now };
            db.IdentityIssuers.Add(issuer);
        }

        issuer.DisplayName = displayName;
        issuer.Authority = authority!;
        issuer.Audience = audience!;
        issuer.GroupsClaim = groupsClaim;
        issuer.ClientId = clientId;
        issuer.RequireHttpsMetadata = requireHttps;
        issuer.CaBundlePem = caBundle;
        if (input.ClientSecret is not null)
        {
            issuer.ProtectedClientSecret = input.ClientSecret.Length == 0 ? null : secrets.Protect(input.ClientSecret);
            issuer.ClientSecretChangedAt = now;
        }

        db.AuditEvents.Add(audit.Create(actor, before is null ? "issuer.create" : "issuer.update", issuer.Authority, AuditOutcome.Success,
            new { before, after = Describe(issuer) }));
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            return ChangeResult<IssuerView>.Stale();
        }

        await policy.RefreshAsync(cancellationToken);
        return new(before is null ? ChangeStatus.Created : ChangeStatus.Ok, View(issuer));
    }

    public async Task<ChangeResult<IssuerView>> DeleteAsync(Guid id, string? expectedVersion, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var issuer = await db.IdentityIssuers.FirstOrDefaultAsync(i => i.Id == id, cancellationToken);
        if (ChangeResult<IssuerView>.Refuses(issuer, expectedVersion, out var refusal))
        {
            return refusal;
        }

        db.IdentityIssuers.Remove(issuer);
        db.AuditEvents.Add(audit.Create(actor, "issuer.delete", issuer.Authority, AuditOutcome.Success, new { before = Describe(issuer) }));
        await db.SaveChangesAsync(cancellationToken);
        await policy.RefreshAsync(cancellationToken);
        return new(ChangeStatus.Ok);
    }

    private static IssuerView View(IdentityIssuer i) => new(i.Id, i.DisplayName, i.Authority, i.Audience, i.GroupsClaim, i.ClientId,
        i.ProtectedClientSecret is not null, i.ClientSecretChangedAt, i.RequireHttpsMetadata, FromConfiguration: false, i.Version.ToString("n"), i.CaBundlePem);

    private const int MaxCaBundleLength = 256 * 1024;

    /// <summary>The audit record's picture of an issuer: everything but the client secret.</summary>
    private static object Describe(IdentityIssuer i) => new
    {
        i.DisplayName, i.Authority, i.Audience, i.GroupsClaim, i.ClientId,
        clientSecret = new { set = i.ProtectedClientSecret is not null, changedAt = i.ClientSecretChangedAt }, i.RequireHttpsMetadata,
        caBundle = i.CaBundlePem is not null,
    };
}
