using System.Text.Json;

namespace Hoop.Admin.Console;

/// <summary>
/// An audit event's details as a change: each field of "before" and "after" (nested objects as dotted paths) side by
/// side, so a reader sees what changed without comparing two JSON blobs. Details of another shape have no fields.
/// </summary>
public sealed record AuditChange(IReadOnlyList<AuditChange.Field> Fields)
{
    public sealed record Field(string Path, string? Before, string? After)
    {
        public bool Changed => Before != After;
    }

    public static AuditChange Of(string? details)
    {
        if (details is null)
        {
            return new([]);
        }

        try
        {
            using var document = JsonDocument.Parse(details);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !(root.TryGetProperty("before", out _) || root.TryGetProperty("after", out _)))
            {
                return new([]);
            }

            var before = Flatten(root.TryGetProperty("before", out var b) ? b : default);
            var after = Flatten(root.TryGetProperty("after", out var a) ? a : default);
            var paths = before.Keys.Union(after.Keys).Order(StringComparer.Ordinal);
            return new(paths.Select(p => new Field(p, before.GetValueOrDefault(p), after.GetValueOrDefault(p))).ToList());
        }
        catch (JsonException)
        {
            return new([]);
        }
    }

    private static Dictionary<string, string> Flatten(JsonElement element)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        void Walk(JsonElement e, string path)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in e.EnumerateObject())
                {
                    Walk(property.Value, path.Length == 0 ? property.Name : $"{path}.{property.Name}");
                }
            }
            else if (e.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
            {
                // Lists stay whole: "a, b" reads better than one row per item. A null field is one without a value.
                fields[path.Length == 0 ? "(value)" : path] = e.ValueKind switch
                {
                    JsonValueKind.String => e.GetString()!,
                    JsonValueKind.Array when e.GetArrayLength() == 0 => "(none)",
                    JsonValueKind.Array => string.Join(", ", e.EnumerateArray().Select(i => i.ValueKind == JsonValueKind.String ? i.GetString() : i.GetRawText())),
                    _ => e.GetRawText(),
                };
            }
        }

        Walk(element, "");
        return fields;
    }
}
