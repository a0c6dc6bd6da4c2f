using Hoop.Data.Entities;

namespace Hoop.Proxy.Masking;

/// <summary>A stored masking rule, compiled once per policy snapshot.</summary>
public sealed class CompiledMaskingRule
{
    /// <summary>The detector names a rule may use besides the built-in ones.</summary>
    public const string Regex = "regex", Words = "words", JsonField = "json-field", ContentType = "content-type", Column = "column";

    public static IEnumerable<string> DetectorNames => Detectors.BuiltIn.Keys.Concat([Regex, Words, JsonField, ContentType, Column]);

    public required string Name { get; init; }
    public required MaskStyle Style { get; init; }
    public int KeepLast { get; init; }
    public required MaskDirections Directions { get; init; }
    public Guid? ConnectionId { get; init; }

    /// <summary>The group whose callers the rule applies to; null for everyone.</summary>
    public string? Group { get; init; }

    /// <summary>Finds values in text (built-in, regex or words); null for field and content-type rules.</summary>
    public Detector? Detector { get; init; }

    /// <summary>json-field: property names (anywhere) or dotted paths from the root (customer.ssn).</summary>
    public IReadOnlyList<string> Fields { get; init; } = [];

    /// <summary>column: result column names (Postgres) whose every value is masked.</summary>
    public IReadOnlySet<string> Columns { get; init; } = new HashSet<string>();

    /// <summary>content-type: bodies of this media type (or type/*) are blocked in the rule's directions.</summary>
    public string? BlockedType { get; init; }

    /// <summary>What a masked value is labelled and counted as.</summary>
    public string Label => Detector?.Label ?? new string(Name.ToUpperInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());

    public string CountedAs => Detector?.Name ?? Name;

    /// <summary>
    /// Compiles a stored rule; throws <see cref="ArgumentException"/> saying what is wrong (an unknown detector, a
    /// pattern that does not compile or could backtrack, an empty list). <paramref name="group"/> is the rule's group name.
    /// </summary>
    public static CompiledMaskingRule Compile(MaskingRule rule, string? group)
    {
        var pattern = rule.Pattern?.Trim();
        Detector? detector = null;
        IReadOnlyList<string> fields = [];
        HashSet<string> columns = [];
        string? blocked = null;
        switch (rule.Detector)
        {
            case var builtIn when Detectors.BuiltIn.TryGetValue(builtIn, out var found):
                detector = found;
                break;
            case Regex:
                detector = Detectors.Custom(rule.Name, pattern ?? "");
                break;
            case Words:
                detector = Detectors.Words(rule.Name, pattern ?? "");
                break;
            case JsonField:
                fields = (pattern ?? "").Split(['\n', '\r', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (fields.Count == 0 || fields.Any(f => f.Split('.').Any(string.IsNullOrEmpty)))
                {
                    throw new ArgumentException("List the JSON property names (email) or dotted paths from the root (customer.email), one per line.");
                }

                break;
            case Column:
                columns = (pattern ?? "").Split(['\n', '\r', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .ToHashSet(StringComparer.OrdinalIgnoreCase);
                if (columns.Count == 0 || columns.Any(c => c.Length > 63))
                {
                    throw new ArgumentException("List the result column names to mask (email, card_number), one per line; a name has at most 63 characters.");
                }

                break;
            case ContentType:
                blocked = pattern?.ToLowerInvariant();
                if (string.IsNullOrEmpty(blocked) || blocked.Count(c => c == '/') != 1 || blocked.Contains(' ', StringComparison.Ordinal))
                {
                    throw new ArgumentException("Give the media type to block, such as application/octet-stream or image/*.");
                }

                break;
            default:
                throw new ArgumentException($"'{rule.Detector}' is not a detector. Use one of: {string.Join(", ", DetectorNames)}.");
        }

        if (rule.Style == MaskStyle.Partial && rule.KeepLast is < 1 or > 16)
        {
            throw new ArgumentException("Partial masking keeps from 1 to 16 characters at the end.");
        }

        return new CompiledMaskingRule
        {
            Name = rule.Name,
            Style = rule.Style,
            KeepLast = rule.KeepLast,
            Directions = rule.Directions,
            ConnectionId = rule.ConnectionId,
            Group = group,
            Detector = detector,
            Fields = fields,
            Columns = columns,
            BlockedType = blocked,
        };
    }

    public bool AppliesTo(Guid connectionId, IReadOnlyCollection<string> callerGroups, MaskDirections direction) =>
        (Directions & direction) != 0
        && (ConnectionId is null || ConnectionId == connectionId)
        && (Group is null || callerGroups.Contains(Group));

    /// <summary>Whether a property at <paramref name="path"/> (names from the root, arrays skipped) is one of this rule's fields.</summary>
    public bool MatchesField(IReadOnlyList<string> path)
    {
        foreach (var field in Fields)
        {
            if (!field.Contains('.', StringComparison.Ordinal))
            {
                if (path.Any(p => p.Equals(field, StringComparison.OrdinalIgnoreCase)))
                {
                    return true;
                }

                continue;
            }

            var parts = field.Split('.');
            if (path.Count >= parts.Length && parts.Select((p, i) => p.Equals(path[i], StringComparison.OrdinalIgnoreCase)).All(x => x))
            {
                return true;
            }
        }

        return false;
    }

    public bool Blocks(string? contentType)
    {
        if (BlockedType is null || contentType is null)
        {
            return false;
        }

        var media = contentType.Split(';')[0].Trim().ToLowerInvariant();
        return BlockedType.EndsWith("/*", StringComparison.Ordinal) ? media.StartsWith(BlockedType[..^1], StringComparison.Ordinal) : media == BlockedType;
    }
}
