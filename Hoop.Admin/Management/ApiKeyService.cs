using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Policy;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>API keys for agents that cannot get OIDC tokens: shown once at creation, stored as a hash, revocable.</summary>
public sealed class ApiKeyService(IDbContextFactory<HoopDbContext> contexts, AuditLog audit, PolicyStore policy, TimeProvider time)
{
    public async Task<IReadOnlyList<ApiKeyView>> ListAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return (await db.ApiKeys.AsNoTracking().OrderBy(k => k.Name).ToListAsync(cancellationToken)).Select(View).ToList();
    }

    public async Task<ChangeResult<ApiKeyCreated>> CreateAsync(ApiKeyInput input, string actor, CancellationToken cancellationToken)
    {
        var errors = new FieldErrors();
        var name = input.Name?.Trim();
        if (string.IsNullOrEmpty(name) || name.Length > 128)
        {
            errors.Add("name", "Name the key after the agent that uses it (up to 128 characters).");
        }
        else if (FieldRules.Line(errors, "name", name) && name.IndexOfAny(['/', '%']) >= 0)
        {
            errors.Add("name", "A key name cannot hold '/' or '%': the API addresses the key by its name in the path.");
        }

        var now = time.GetUtcNow().UtcDateTime;
        if (input.ExpiresAt is { } expires && expires.ToUniversalTime() <= now)
        {
            errors.Add("expiresAt", "The expiry must be in the future.");
        }

        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var groups = (FieldRules.Items(errors, "groups", input.Groups) ? input.Groups ?? [] : []).Distinct(StringComparer.Ordinal).ToList();
        var known = await db.Groups.Where(g => groups.Contains(g.Name)).Select(g => g.Name).ToListAsync(cancellationToken);
        foreach (var unknown in groups.Except(known))
        {
            errors.Add("groups", $"There is no group named '{unknown}'.");
        }

        if (groups.Count == 0 && input.Groups is not { Count: > 0 })
        {
            errors.Add("groups", "A key carries the grants of its groups: name at least one.");
        }

        if (errors.Any)
        {
            return ChangeResult<ApiKeyCreated>.Invalid(errors.ToDictionary());
        }

        if (await db.ApiKeys.AnyAsync(k => k.Name == name, cancellationToken))
        {
            return new(ChangeStatus.Conflict, Errors: new Dictionary<string, string[]> { ["name"] = [$"An API key named '{name}' exists already."] });
        }

        var (key, prefix, hash) = ApiKeys.Generate();
        var entity = new ApiKey
        {
            Name = name!, Prefix = prefix, KeyHash = hash, Groups = groups, CreatedAt = now, CreatedBy = actor,
            ExpiresAt = input.ExpiresAt?.ToUniversalTime(),
        };
        db.ApiKeys.Add(entity);
        db.AuditEvents.Add(audit.Create(actor, "api-key.create", entity.Name, AuditOutcome.Success, new { entity.Prefix, groups, entity.ExpiresAt }));
        await db.SaveChangesAsync(cancellationToken);
        await policy.RefreshAsync(cancellationToken);
        return new(ChangeStatus.Created, new ApiKeyCreated(key, View(entity)));
    }

    public async Task<ChangeResult<ApiKeyView>> RevokeAsync(string name, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var key = await db.ApiKeys.FirstOrDefaultAsync(k => k.Name == name, cancellationToken);
        if (key is null)
        {
            return ChangeResult<ApiKeyView>.Missing();
        }

        key.RevokedAt ??= time.GetUtcNow().UtcDateTime;
        db.AuditEvents.Add(audit.Create(actor, "api-key.revoke", key.Name, AuditOutcome.Success, new { key.Prefix }));
        await db.SaveChangesAsync(cancellationToken);
        await policy.RefreshAsync(cancellationToken);
        return new(ChangeStatus.Ok, View(key));
    }

    private static ApiKeyView View(ApiKey k) => new(k.Id, k.Name, k.Prefix, k.Groups, k.CreatedAt, k.CreatedBy, k.ExpiresAt, k.RevokedAt, k.LastUsedAt);
}
