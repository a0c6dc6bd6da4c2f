using System.Text;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Policy;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>
/// A masking rule as the console and API give it. Style: redact, partial or pseudonym; directions: request,
/// response, recording; connection and group by name (null: every connection, everyone).
/// </summary>
public sealed record MaskingRuleInput(string? Name, string? Detector, string? Pattern, string? Style, int? KeepLast,
    IReadOnlyList<string>? Directions, string? Connection, string? Group, bool? Enabled);

public sealed record MaskingRuleView(Guid Id, string Name, string Detector, string? Pattern, string Style, int KeepLast,
    IReadOnlyList<string> Directions, string? Connection, string? Group, bool Enabled, string Version);

/// <summary>A sample to mask with some rules (by name; none named: every enabled rule).</summary>
public sealed record MaskingTestInput(string? Sample, string? ContentType, IReadOnlyList<string>? Rules);

public sealed record MaskingMatch(string Rule, int Start, int Length, string Text);

public sealed record MaskingTestResult(string Output, IReadOnlyDictionary<string, int> Counts, IReadOnlyList<MaskingMatch> Matches);

/// <summary>Masking rules: each is compiled at save, so one that cannot work is refused with the reason beside its field.</summary>
public sealed class MaskingRuleService(IDbContextFactory<HoopDbContext> contexts, AuditLog audit, PolicyStore policy, TimeProvider time)
    : ISavedByName<MaskingRuleInput, MaskingRuleView>
{
    public string Kind => "masking rule";

    public string KeyOf(MaskingRuleView view) => view.Name;

    public string? VersionOf(MaskingRuleView view) => view.Version;

    public async Task<IReadOnlyList<MaskingRuleView>> ListAsync(CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rules = await db.MaskingRules.AsNoTracking().OrderBy(r => r.Name).ToListAsync(cancellationToken);
        var names = await RuleInputs.NamesAsync(db, cancellationToken);
        return rules.Select(r => View(r, names)).ToList();
    }

    public async Task<MaskingRuleView?> GetAsync(string name, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rule = await db.MaskingRules.AsNoTracking().FirstOrDefaultAsync(r => r.Name == name, cancellationToken);
        return rule is null ? null : View(rule, await RuleInputs.NamesAsync(db, cancellationToken));
    }

    public async Task<ChangeResult<MaskingRuleView>> SaveAsync(string? existingName, MaskingRuleInput input, string? expectedVersion, string actor,
        CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rule = existingName is null ? null : await db.MaskingRules.FirstOrDefaultAsync(r => r.Name == existingName, cancellationToken);
        if (existingName is not null && ChangeResult<MaskingRuleView>.Refuses(rule, expectedVersion, out var refusal))
        {
            return refusal;
        }

        var errors = new FieldErrors();
        var name = RuleInputs.Name(input.Name, rule?.Name, errors);

        if (!(FieldRules.Line(errors, "detector", input.Detector, 64) & FieldRules.Text(errors, "pattern", input.Pattern, 8 * FieldRules.PatternLength)
            & FieldRules.Line(errors, "connection", input.Connection) & FieldRules.Line(errors, "group", input.Group)
            & FieldRules.Items(errors, "directions", input.Directions, 64)))
        {
            return ChangeResult<MaskingRuleView>.Invalid(errors.ToDictionary());
        }

        var style = rule?.Style ?? MaskStyle.Redact;
        if (input.Style is { } styleText && !FieldRules.TryName(styleText, out style))
        {
            errors.Add("style", $"'{styleText}' is not a style; use redact, partial or pseudonym.");
        }

        var directions = rule?.Directions ?? (MaskDirections.Response | MaskDirections.Recording);
        if (input.Directions is { } directionNames)
        {
            directions = MaskDirections.None;
            foreach (var d in directionNames)
            {
                if (FieldRules.TryName<MaskDirections>(d, out var parsed) && parsed is MaskDirections.Request or MaskDirections.Response or MaskDirections.Recording)
                {
                    directions |= parsed;
                }
                else
                {
                    errors.Add("directions", $"'{d}' is not a direction; use request, response or recording.");
                }
            }

            if (directions == MaskDirections.None && !errors.Any)
            {
                errors.Add("directions", "Pick at least one direction: request (to the backend), response (to the agent), recording.");
            }
        }

        var connectionId = await RuleInputs.ConnectionAsync(db, input.Connection, rule?.ConnectionId, errors, cancellationToken);

        var groupId = rule?.GroupId;
        string? groupName = null;
        if (input.Group is { } wantedGroup)
        {
            groupId = null;
            if (wantedGroup.Trim() is { Length: > 0 } g)
            {
                groupId = await db.Groups.Where(x => x.Name == g).Select(x => (Guid?)x.Id).FirstOrDefaultAsync(cancellationToken);
                groupName = g;
                if (groupId is null)
                {
                    errors.Add("group", $"There is no group named '{g}'; leave it empty for everyone.");
                }
            }
        }

        var candidate = new MaskingRule
        {
            Name = name ?? "",
            Detector = input.Detector?.Trim() ?? rule?.Detector ?? "",
            Pattern = input.Pattern ?? rule?.Pattern,
            Style = style,
            KeepLast = input.KeepLast ?? rule?.KeepLast ?? (style == MaskStyle.Partial ? 4 : 0),
            Directions = directions,
        };
        if (!errors.Any)
        {
            try
            {
                CompiledMaskingRule.Compile(candidate, groupName);
            }
            catch (ArgumentException e)
            {
                var field = e.Message.Contains("not a detector", StringComparison.Ordinal) ? "detector"
                    : e.Message.StartsWith("Partial", StringComparison.Ordinal) ? "keepLast" : "pattern";
                errors.Add(field, e.Message);
            }
        }

        if (!errors.Any && rule is null && await db.MaskingRules.AnyAsync(r => r.Name == name, cancellationToken))
        {
            return new(ChangeStatus.Conflict, Errors: new Dictionary<string, string[]> { ["name"] = [$"A masking rule named '{name}' exists already."] });
        }

        if (errors.Any)
        {
            return ChangeResult<MaskingRuleView>.Invalid(errors.ToDictionary());
        }

        var now = time.GetUtcNow().UtcDateTime;
        var names = await RuleInputs.NamesAsync(db, cancellationToken);
        var before = rule is null ? null : View(rule, names);
        if (rule is null)
        {
            rule = new MaskingRule { Name = name!, Detector = candidate.Detector, CreatedAt = now };
            db.MaskingRules.Add(rule);
        }

        rule.Detector = candidate.Detector;
        rule.Pattern = candidate.Pattern;
        rule.Style = candidate.Style;
        rule.KeepLast = candidate.KeepLast;
        rule.Directions = directions;
        rule.ConnectionId = connectionId;
        rule.GroupId = groupId;
        rule.Enabled = input.Enabled ?? rule.Enabled;
        rule.UpdatedAt = now;
        db.AuditEvents.Add(audit.Create(actor, before is null ? "masking-rule.create" : "masking-rule.update", rule.Name, AuditOutcome.Success,
            new { before, after = View(rule, names) with { Version = "" } }));
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            return ChangeResult<MaskingRuleView>.Stale();
        }

        await policy.RefreshAsync(cancellationToken);
        return new(before is null ? ChangeStatus.Created : ChangeStatus.Ok, View(rule, names));
    }

    public async Task<ChangeResult<MaskingRuleView>> DeleteAsync(string name, string? expectedVersion, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var rule = await db.MaskingRules.FirstOrDefaultAsync(r => r.Name == name, cancellationToken);
        if (ChangeResult<MaskingRuleView>.Refuses(rule, expectedVersion, out var refusal))
        {
            return refusal;
        }

        db.MaskingRules.Remove(rule);
        db.AuditEvents.Add(audit.Create(actor, "masking-rule.delete", name, AuditOutcome.Success, new { before = View(rule, await RuleInputs.NamesAsync(db, cancellationToken)) }));
        await db.SaveChangesAsync(cancellationToken);
        await policy.RefreshAsync(cancellationToken);
        return new(ChangeStatus.Ok);
    }

    /// <summary>Masks a sample with the chosen rules as the data path would, and says what each rule matched where.</summary>
    public ChangeResult<MaskingTestResult> Test(MaskingTestInput input)
    {
        var sample = input.Sample ?? "";
        if (Encoding.UTF8.GetByteCount(sample) > 1024 * 1024)
        {
            return ChangeResult<MaskingTestResult>.Invalid(new() { ["sample"] = ["Test with at most 1 MiB."] });
        }

        var errors = new FieldErrors();
        if (!(FieldRules.Items(errors, "rules", input.Rules, 128) & FieldRules.Line(errors, "contentType", input.ContentType)))
        {
            return ChangeResult<MaskingTestResult>.Invalid(errors.ToDictionary());
        }

        var all = policy.Current.MaskingRules;
        var unknown = (input.Rules ?? []).Where(n => all.All(r => r.Name != n)).ToList();
        if (unknown.Count > 0)
        {
            return ChangeResult<MaskingTestResult>.Invalid(new() { ["rules"] = [$"No enabled rule is named {string.Join(", ", unknown)}."] });
        }

        var chosen = input.Rules is { Count: > 0 } names ? all.Where(r => names.Contains(r.Name)).ToList() : all.ToList();
        var masker = new Masker(chosen, new byte[32]);
        var counts = new MaskingCounts();
        var contentType = string.IsNullOrWhiteSpace(input.ContentType) ? "text/plain" : input.ContentType;
        string output;
        try
        {
            output = Encoding.UTF8.GetString(masker.MaskBody(Encoding.UTF8.GetBytes(sample), contentType, counts));
        }
        catch (MaskingException e)
        {
            return ChangeResult<MaskingTestResult>.Invalid(new() { ["contentType"] = [e.Message] });
        }

        var matches = chosen.Where(r => r.Detector is not null)
            .SelectMany(r => r.Detector!.Find(sample).Select(m => new MaskingMatch(r.Name, m.Start, m.Length, sample.Substring(m.Start, m.Length))))
            .OrderBy(m => m.Start).ToList();
        return new(ChangeStatus.Ok, new MaskingTestResult(output, counts.ByDetector.ToDictionary(), matches));
    }

    private static MaskingRuleView View(MaskingRule r, (Dictionary<Guid, string> Connections, Dictionary<Guid, string> Groups) names) => new(
        r.Id, r.Name, r.Detector, r.Pattern, r.Style.ToString().ToLowerInvariant(), r.KeepLast,
        new[] { MaskDirections.Request, MaskDirections.Response, MaskDirections.Recording }.Where(d => r.Directions.HasFlag(d)).Select(d => d.ToString().ToLowerInvariant()).ToList(),
        r.ConnectionId is { } c ? names.Connections.GetValueOrDefault(c) : null,
        r.GroupId is { } g ? names.Groups.GetValueOrDefault(g) : null,
        r.Enabled, r.Version.ToString("n"));
}
