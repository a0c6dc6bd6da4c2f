using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Guardrails.Rules;
using Hoop.Proxy.Policy;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>
/// A guardrail rule as the console and API give it. Protocol http: conditions on the method, path glob, a header
/// and its value pattern, a body pattern. Protocol sql: statement kinds (DROP, DELETE-WITHOUT-WHERE, ...) and a
/// statement pattern. All conditions given must hold. Then an action (deny or review), the message the agent
/// gets, and for reviews the reviewers' group and how many approvals are needed.
/// </summary>
public sealed record GuardrailRuleInput(string? Name, string? Method, string? Path, string? Header, string? HeaderPattern, string? BodyPattern,
    string? Action, string? Message, string? Connection, string? ReviewerGroup, int? MinApprovals, bool? Enabled,
    string? Protocol = null, IReadOnlyList<string>? SqlKinds = null, string? Statement = null);

public sealed record GuardrailRuleView(Guid Id, string Name, string Protocol, string? Method, string? Path, string? Header, string? HeaderPattern,
    string? BodyPattern, IReadOnlyList<string> SqlKinds, string? Statement, string Action, string Message, string? Connection, string? ReviewerGroup,
    int MinApprovals, bool Enabled, string Version);

/// <summary>Guardrail rules: compiled at save, so one that cannot work is refused with the reason beside its field.</summary>
public sealed partial class GuardrailRuleService(IDbContextFactory<HoopDbContext> contexts, AuditLog audit, PolicyStore policy, TimeProvider time)
    : ISavedByName<GuardrailRuleInput, GuardrailRuleView>
{
    public string Kind => "guardrail rule";

    public string KeyOf(GuardrailRuleView view) => view.Name;

    public string? VersionOf(GuardrailRuleView view) => view.Version;

    public async Task<IReadOnlyList<GuardrailRuleView>> ListAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var names = await RuleInputs.NamesAsync(db, cancellationToken);
        return (await db.GuardrailRules.AsNoTracking().OrderBy(r => r.CreatedAt).ToListAsync(cancellationToken))
            .Select(r => View(r, names)).ToList();
    }

    public async Task<GuardrailRuleView?> GetAsync(string name, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rule = await db.GuardrailRules.AsNoTracking().FirstOrDefaultAsync(r => r.Name == name, cancellationToken);
        return rule is null ? null : View(rule, await RuleInputs.NamesAsync(db, cancellationToken));
    }

    public async Task<ChangeResult<GuardrailRuleView>> SaveAsync(string? existingName, GuardrailRuleInput input, string? expectedVersion, string actor,
        CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rule = existingName is null ? null : await db.GuardrailRules.FirstOrDefaultAsync(r => r.Name == existingName, cancellationToken);
        if (existingName is not null && ChangeResult<GuardrailRuleView>.Refuses(rule, expectedVersion, out var refusal))
        {
            return refusal;
        }

        var errors = new FieldErrors();
        var name = RuleInputs.Name(input.Name, rule?.Name, errors);
        if (!(FieldRules.Line(errors, "path", input.Path, FieldRules.PatternLength) & FieldRules.Line(errors, "header", input.Header)
            & FieldRules.Line(errors, "headerPattern", input.HeaderPattern, FieldRules.PatternLength)
            & FieldRules.Line(errors, "bodyPattern", input.BodyPattern, FieldRules.PatternLength)
            & FieldRules.Line(errors, "statement", input.Statement, FieldRules.PatternLength) & FieldRules.Items(errors, "sqlKinds", input.SqlKinds, 64)
            & FieldRules.Line(errors, "method", input.Method, 16) & FieldRules.Line(errors, "connection", input.Connection)
            & FieldRules.Line(errors, "reviewerGroup", input.ReviewerGroup) & FieldRules.Text(errors, "message", input.Message, 500)))
        {
            return ChangeResult<GuardrailRuleView>.Invalid(errors.ToDictionary());
        }

        if (input.Header is { } headerName && !string.IsNullOrWhiteSpace(headerName) && !HttpHeaderName().IsMatch(headerName.Trim()))
        {
            errors.Add("header", "That is not a valid HTTP header name.");
        }

        var action = rule?.Action ?? GuardrailAction.Deny;
        if (input.Action is { } actionText && !FieldRules.TryName(actionText, out action))
        {
            errors.Add("action", $"'{actionText}' is not an action; use deny or review.");
        }

        var message = input.Message?.Trim() ?? rule?.Message;
        if (string.IsNullOrEmpty(message) || message.Length > 500)
        {
            errors.Add("message", "Say in up to 500 characters what the agent is told when the rule fires, e.g. 'Deleting customers needs a review.'");
        }

        var protocol = rule?.Protocol ?? GuardrailProtocol.Http;
        if (input.Protocol is { } protocolText && !FieldRules.TryName(protocolText, out protocol))
        {
            errors.Add("protocol", $"'{protocolText}' is not a protocol; use http or sql.");
        }

        var sql = protocol == GuardrailProtocol.Sql;
        var method = sql ? null : Optional(input.Method, rule?.HttpMethod)?.ToUpperInvariant();
        if (method is not null && (method.Length > 16 || !method.All(char.IsAsciiLetterUpper)))
        {
            errors.Add("method", $"'{method}' is not an HTTP method.");
        }

        var connectionId = await RuleInputs.ConnectionAsync(db, input.Connection, rule?.ConnectionId, errors, cancellationToken);

        var reviewerGroupId = rule?.ReviewerGroupId;
        string? reviewerGroup = null;
        if (input.ReviewerGroup is { } groupName)
        {
            reviewerGroupId = null;
            if (groupName.Trim() is { Length: > 0 } wantedGroup)
            {
                reviewerGroup = wantedGroup;
                var group = await db.Groups.AsNoTracking().FirstOrDefaultAsync(g => g.Name == wantedGroup, cancellationToken);
                reviewerGroupId = group?.Id;
                if (group is null)
                {
                    errors.Add("reviewerGroup", $"There is no group named '{wantedGroup}'.");
                }
                else if (!group.Roles.HasFlag(Roles.Reviewer))
                {
                    errors.Add("reviewerGroup", $"Group '{wantedGroup}' does not carry the reviewer role (Groups).");
                }
            }
        }

        var minApprovals = input.MinApprovals ?? rule?.MinApprovals ?? 1;
        if (minApprovals is < 1 or > 10)
        {
            errors.Add("minApprovals", "Ask for 1 to 10 approvals.");
        }

        var candidate = new GuardrailRule
        {
            Name = name ?? "",
            Protocol = protocol,
            HttpMethod = method,
            // One column holds the path glob of an HTTP rule and the statement pattern of a SQL one.
            Pattern = sql ? Optional(input.Statement, rule?.Protocol == protocol ? rule.Pattern : null) : Optional(input.Path, rule?.Protocol == protocol ? rule.Pattern : null),
            HeaderName = sql ? null : Optional(input.Header, rule?.HeaderName),
            HeaderPattern = sql ? null : Optional(input.HeaderPattern, rule?.HeaderPattern),
            BodyPattern = sql ? null : Optional(input.BodyPattern, rule?.BodyPattern),
            SqlKinds = sql ? [.. input.SqlKinds ?? rule?.SqlKinds ?? []] : [],
            Action = action,
            Message = message ?? "",
            MinApprovals = minApprovals,
        };
        if (candidate.HeaderPattern is not null && candidate.HeaderName is null)
        {
            errors.Add("header", "Name the header whose value the pattern is for.");
        }

        if (!errors.Any)
        {
            try
            {
                Guardrail.Compile(candidate, reviewerGroup);
            }
            catch (GuardrailRuleException e)
            {
                errors.Add(e.Field switch { "pattern" => "path", var f => f }, e.Message);
            }
            catch (ArgumentException e)
            {
                errors.Add(sql ? "statement" : "path", e.Message);
            }
        }

        if (!errors.Any && rule is null && await db.GuardrailRules.AnyAsync(r => r.Name == name, cancellationToken))
        {
            return new(ChangeStatus.Conflict, Errors: new Dictionary<string, string[]> { ["name"] = [$"A guardrail rule named '{name}' exists already."] });
        }

        if (errors.Any)
        {
            return ChangeResult<GuardrailRuleView>.Invalid(errors.ToDictionary());
        }

        var now = time.GetUtcNow().UtcDateTime;
        var names = await RuleInputs.NamesAsync(db, cancellationToken);
        var before = rule is null ? null : View(rule, names) with { Version = "" };
        if (rule is null)
        {
            rule = new GuardrailRule { Name = name!, Message = message!, CreatedAt = now };
            db.GuardrailRules.Add(rule);
        }

        rule.Protocol = candidate.Protocol;
        rule.SqlKinds = [.. Guardrail.Compile(candidate, reviewerGroup).SqlKinds.Order(StringComparer.Ordinal)];
        rule.HttpMethod = candidate.HttpMethod;
        rule.Pattern = candidate.Pattern;
        rule.HeaderName = candidate.HeaderName;
        rule.HeaderPattern = candidate.HeaderPattern;
        rule.BodyPattern = candidate.BodyPattern;
        rule.Action = action;
        rule.Message = message!;
        rule.ConnectionId = connectionId;
        rule.ReviewerGroupId = reviewerGroupId;
        rule.MinApprovals = minApprovals;
        rule.Enabled = input.Enabled ?? rule.Enabled;
        rule.UpdatedAt = now;
        db.AuditEvents.Add(audit.Create(actor, before is null ? "guardrail-rule.create" : "guardrail-rule.update", rule.Name, AuditOutcome.Success,
            new { before, after = View(rule, names) with { Version = "" } }));
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            return ChangeResult<GuardrailRuleView>.Stale();
        }

        await policy.RefreshAsync(cancellationToken);
        return new(before is null ? ChangeStatus.Created : ChangeStatus.Ok, View(rule, names));
    }

    public async Task<ChangeResult<GuardrailRuleView>> DeleteAsync(string name, string? expectedVersion, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rule = await db.GuardrailRules.FirstOrDefaultAsync(r => r.Name == name, cancellationToken);
        if (ChangeResult<GuardrailRuleView>.Refuses(rule, expectedVersion, out var refusal))
        {
            return refusal;
        }

        db.GuardrailRules.Remove(rule);
        db.AuditEvents.Add(audit.Create(actor, "guardrail-rule.delete", name, AuditOutcome.Success, new { before = View(rule, await RuleInputs.NamesAsync(db, cancellationToken)) }));
        await db.SaveChangesAsync(cancellationToken);
        await policy.RefreshAsync(cancellationToken);
        return new(ChangeStatus.Ok);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")]
    private static partial System.Text.RegularExpressions.Regex HttpHeaderName();

    /// <summary>A field given as "" clears it; null keeps the current value.</summary>
    private static string? Optional(string? given, string? current) =>
        given is null ? current : string.IsNullOrWhiteSpace(given) ? null : given.Trim();

    private static GuardrailRuleView View(GuardrailRule r, (Dictionary<Guid, string> Connections, Dictionary<Guid, string> Groups) names) => new(
        r.Id, r.Name, r.Protocol.ToString().ToLowerInvariant(), r.HttpMethod, r.Protocol == GuardrailProtocol.Http ? r.Pattern : null, r.HeaderName,
        r.HeaderPattern, r.BodyPattern, r.SqlKinds, r.Protocol == GuardrailProtocol.Sql ? r.Pattern : null, r.Action.ToString().ToLowerInvariant(), r.Message,
        r.ConnectionId is { } c ? names.Connections.GetValueOrDefault(c) : null,
        r.ReviewerGroupId is { } g ? names.Groups.GetValueOrDefault(g) : null,
        r.MinApprovals, r.Enabled, r.Version.ToString("n"));
}
