using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Policy;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>Registers OIDC groups: the Hoop roles each carries and the connections it may use (its grants).</summary>
public sealed class GroupService(IDbContextFactory<HoopDbContext> contexts, AuditLog audit, PolicyStore policy, TimeProvider time)
    : ISavedByName<GroupInput, GroupView>
{
    public string Kind => "group";

    public string KeyOf(GroupView view) => view.Name;

    public string? VersionOf(GroupView view) => view.Version;

    public async Task<IReadOnlyList<GroupView>> ListAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return (await Groups(db).AsNoTracking().OrderBy(g => g.Name).ToListAsync(cancellationToken)).Select(View).ToList();
    }

    public async Task<GroupView?> GetAsync(string name, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var group = await Groups(db).AsNoTracking().FirstOrDefaultAsync(g => g.Name == name, cancellationToken);
        return group is null ? null : View(group);
    }

    public async Task<ChangeResult<GroupView>> SaveAsync(string? existingName, GroupInput input, string? expectedVersion, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var group = existingName is null ? null : await Groups(db).FirstOrDefaultAsync(g => g.Name == existingName, cancellationToken);
        if (existingName is not null && ChangeResult<GroupView>.Refuses(group, expectedVersion, out var refusal))
        {
            return refusal;
        }

        var errors = new FieldErrors();
        var name = input.Name?.Trim() ?? group?.Name;
        if (string.IsNullOrEmpty(name) || name.Length > 256)
        {
            errors.Add("name", "Give the group's name exactly as the identity provider puts it in the groups claim (up to 256 characters).");
        }
        else if (FieldRules.Line(errors, "name", name) && name.Contains('%', StringComparison.Ordinal))
        {
            // The API addresses a group by its name in the path, with '/' sent as %2F: a '%' of its own would be ambiguous there.
            errors.Add("name", "A group name cannot hold '%'.");
        }
        else if (group is not null && name != group.Name)
        {
            errors.Add("name", "A group cannot be renamed; create one with the new name.");
        }

        var roles = Roles.None;
        var listsReadable = FieldRules.Items(errors, "roles", input.Roles, 64) & FieldRules.Items(errors, "connections", input.Connections)
            & FieldRules.Line(errors, "issuer", input.Issuer, FieldRules.AddressLength);
        foreach (var role in listsReadable ? input.Roles ?? [] : [])
        {
            if (FieldRules.TryName<Roles>(role, out var parsed) && parsed is Roles.Admin or Roles.Reviewer or Roles.Auditor)
            {
                roles |= parsed;
            }
            else
            {
                errors.Add("roles", $"'{role}' is not a role; use admin, reviewer or auditor.");
            }
        }

        var wanted = (listsReadable ? input.Connections ?? [] : []).Distinct(StringComparer.Ordinal).ToList();
        var connections = await db.Connections.Where(c => wanted.Contains(c.Name)).Select(c => new { c.Id, c.Name }).ToListAsync(cancellationToken);
        foreach (var unknown in wanted.Except(connections.Select(c => c.Name)))
        {
            errors.Add("connections", $"There is no connection named '{unknown}'.");
        }

        var issuer = string.IsNullOrWhiteSpace(input.Issuer) || !listsReadable ? null : input.Issuer.Trim();
        if (issuer is not null && !policy.Current.Issuers.ContainsKey(issuer))
        {
            errors.Add("issuer", $"'{issuer}' is not a registered identity provider (Settings); leave it empty for any.");
        }

        if (!errors.Any && group is null && await db.Groups.AnyAsync(g => g.Name == name, cancellationToken))
        {
            return new(ChangeStatus.Conflict, Errors: new Dictionary<string, string[]> { ["name"] = [$"A group named '{name}' exists already."] });
        }

        if (errors.Any)
        {
            return ChangeResult<GroupView>.Invalid(errors.ToDictionary());
        }

        var now = time.GetUtcNow().UtcDateTime;
        var before = group is null ? null : Describe(group);
        if (group is null)
        {
            group = new Group { Name = name!, CreatedAt = now };
            db.Groups.Add(group);
        }

        group.Roles = roles;
        group.Issuer = issuer;
        group.UpdatedAt = now;
        var keep = connections.Select(c => c.Id).ToHashSet();
        group.Grants.RemoveAll(g => !keep.Contains(g.ConnectionId));
        foreach (var id in keep.Where(id => group.Grants.All(g => g.ConnectionId != id)))
        {
            group.Grants.Add(new Grant { ConnectionId = id, CreatedAt = now });
        }

        db.AuditEvents.Add(audit.Create(actor, before is null ? "group.create" : "group.update", group.Name, AuditOutcome.Success,
            new { before, after = new { group.Name, group.Issuer, roles = RoleNames(roles), connections = connections.Select(c => c.Name).Order() } }));
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            return ChangeResult<GroupView>.Stale();
        }

        await policy.RefreshAsync(cancellationToken);
        var saved = await Groups(db).AsNoTracking().FirstAsync(g => g.Id == group.Id, cancellationToken);
        return new(before is null ? ChangeStatus.Created : ChangeStatus.Ok, View(saved));
    }

    public async Task<ChangeResult<GroupView>> DeleteAsync(string name, string? expectedVersion, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var group = await Groups(db).FirstOrDefaultAsync(g => g.Name == name, cancellationToken);
        if (ChangeResult<GroupView>.Refuses(group, expectedVersion, out var refusal))
        {
            return refusal;
        }

        // A rule's reviewer group going away would leave its reviews to any reviewer: change the rules first.
        var rules = await db.GuardrailRules.Where(r => r.ReviewerGroupId == group.Id).Select(r => r.Name).ToListAsync(cancellationToken);
        if (rules.Count > 0)
        {
            return new(ChangeStatus.Conflict, Errors: new Dictionary<string, string[]>
            {
                ["name"] = [$"Group '{name}' decides the reviews of guardrail rule(s) {string.Join(", ", rules)}; give those rules other reviewers first."],
            });
        }

        db.Groups.Remove(group);
        db.AuditEvents.Add(audit.Create(actor, "group.delete", name, AuditOutcome.Success, new { before = Describe(group) }));
        await db.SaveChangesAsync(cancellationToken);
        await policy.RefreshAsync(cancellationToken);
        return new(ChangeStatus.Ok);
    }

    private static IQueryable<Group> Groups(HoopDbContext db) => db.Groups.Include(g => g.Grants).ThenInclude(g => g.Connection);

    private static GroupView View(Group g) => new(g.Id, g.Name, RoleNames(g.Roles),
        g.Grants.Where(x => x.Connection is not null).Select(x => x.Connection!.Name).Order(StringComparer.Ordinal).ToList(),
        g.Version.ToString("n"), g.Issuer);

    private static object Describe(Group g) => new
    {
        g.Name,
        g.Issuer,
        roles = RoleNames(g.Roles),
        connections = g.Grants.Where(x => x.Connection is not null).Select(x => x.Connection!.Name).Order(),
    };

    internal static List<string> RoleNames(Roles roles) =>
        new[] { Roles.Admin, Roles.Reviewer, Roles.Auditor }.Where(r => roles.HasFlag(r)).Select(r => r.ToString().ToLowerInvariant()).ToList();
}
