using System.Text.Json;
using Hoop.Admin.Management;
using Hoop.Data.Entities;

namespace Hoop.Admin.Console;

/// <summary>Short readings of stored values that more than one page shows.</summary>
public static class ConsoleText
{
    /// <summary>"email 3, card 1" from a session's stored masking counts; "nothing" when none.</summary>
    public static string Masked(string? json)
    {
        try
        {
            var counts = json is null ? [] : JsonSerializer.Deserialize<Dictionary<string, int>>(json) ?? [];
            return counts.Count == 0 ? "nothing" : string.Join(", ", counts.Select(c => $"{c.Key} {c.Value}"));
        }
        catch (JsonException)
        {
            return "(unreadable)";
        }
    }

    /// <summary>A connection's credential as the console may show it: its kind and whether and when it was set, never the secret.</summary>
    public static string Credential(CredentialView c) =>
        c.Kind == CredentialKind.None ? "none" : c.Set ? $"{c.Kind}: set, last changed {c.ChangedAt:u}" : $"{c.Kind}: not set";
}
