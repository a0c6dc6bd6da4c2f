using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>What masking and guardrail rules read from their input alike: a name, a connection scope, the names to show.</summary>
internal static class RuleInputs
{
    /// <summary>The rule's name: given, or the existing rule's; a rule is never renamed.</summary>
    public static string? Name(string? given, string? existing, FieldErrors errors)
    {
        var name = given?.Trim() ?? existing;
        if (string.IsNullOrEmpty(name) || name.Length > 128 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            errors.Add("name", "Name the rule with letters, digits, '-', '_' or '.' (up to 128).");
        }
        else if (existing is not null && name != existing)
        {
            errors.Add("name", "A rule cannot be renamed; create one with the new name.");
        }

        return name;
    }

    /// <summary>The connection a rule is limited to: null keeps the current one, "" means every connection.</summary>
    public static async Task<Guid?> ConnectionAsync(HoopDbContext db, string? given, Guid? current, FieldErrors errors, CancellationToken cancellationToken)
    {
        if (given is null)
        {
            return current;
        }

        if (given.Trim() is not { Length: > 0 } wanted)
        {
            return null;
        }

        var id = await db.Connections.Where(c => c.Name == wanted).Select(c => (Guid?)c.Id).FirstOrDefaultAsync(cancellationToken);
        if (id is null)
        {
            errors.Add("connection", $"There is no connection named '{wanted}'; leave it empty for every connection.");
        }

        return id;
    }

    /// <summary>Connection and group names by id, for views (a rule stores ids; people read names).</summary>
    public static async Task<(Dictionary<Guid, string> Connections, Dictionary<Guid, string> Groups)> NamesAsync(HoopDbContext db, CancellationToken cancellationToken) =>
        (await db.Connections.AsNoTracking().ToDictionaryAsync(c => c.Id, c => c.Name, cancellationToken),
         await db.Groups.AsNoTracking().ToDictionaryAsync(g => g.Id, g => g.Name, cancellationToken));
}
