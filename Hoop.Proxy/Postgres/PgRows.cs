using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Hoop.Proxy.Masking;

namespace Hoop.Proxy.Postgres;

/// <summary>How a column's values can be read as text, which decides how they are masked.</summary>
internal enum PgValueKind
{
    /// <summary>Text (any type in text format but the ones below, or a text type in binary format): masked as text.</summary>
    Text,

    /// <summary>json, or jsonb in text format: masked value by value, staying valid JSON.</summary>
    Json,

    /// <summary>jsonb in binary format: a version byte, then JSON text.</summary>
    JsonbBinary,

    /// <summary>Numbers, booleans, times, uuids, bytea, and anything else in binary format: no text to search.</summary>
    Opaque,
}

/// <summary>A result column, with the column rule (if any) of the agent's and the recording's maskers.</summary>
internal sealed record PgColumn(string Name, int TypeOid, short Format, PgValueKind Kind, CompiledMaskingRule? ResponseRule, CompiledMaskingRule? RecordingRule);

/// <summary>
/// Result rows: their columns from a RowDescription, and DataRow values masked in place. A column rule masks every
/// value of its column (text values in the rule's style, JSON as a JSON string, other types become NULL: a number
/// or a binary value cannot hold "[EMAIL]"); detectors mask what they find in text and JSON values.
/// </summary>
internal static class PgRows
{
    // Types whose text form is a number, a time, a boolean, a uuid or hex bytes: nothing a detector is for, and a
    // masked value would no longer parse as its type.
    private static readonly HashSet<int> Opaque =
    [
        16, 17, 20, 21, 22, 23, 24, 26, 27, 28, 29, 30, 600, 601, 602, 603, 604, 628, 650, 700, 701, 718, 790, 829, 869, 1082, 1083, 1114, 1184,
        1186, 1266, 1560, 1562, 1700, 2205, 2206, 2950, 3220, 5069,
    ];
    private static readonly HashSet<int> TextTypes = [18, 19, 25, 142, 705, 1042, 1043];
    private const int JsonOid = 114, JsonbOid = 3802;

    public static PgColumn[] Describe(ReadOnlySpan<byte> body, Masker response, Masker recording)
    {
        var reader = new PgReader(body);
        var count = reader.Int16();
        if (count < 0)
        {
            throw new PgProtocolException("08P01", "invalid RowDescription");
        }

        var columns = new PgColumn[count];
        for (var i = 0; i < count; i++)
        {
            var name = reader.CString();
            reader.Int32(); // table oid
            reader.Int16(); // attribute number
            var type = reader.Int32();
            reader.Int16(); // type size
            reader.Int32(); // type modifier
            var format = reader.Int16();
            var kind = type switch
            {
                JsonOid => PgValueKind.Json,
                JsonbOid => format == 0 ? PgValueKind.Json : PgValueKind.JsonbBinary,
                _ when Opaque.Contains(type) => PgValueKind.Opaque,
                _ when format == 0 || TextTypes.Contains(type) => PgValueKind.Text,
                _ => PgValueKind.Opaque,
            };
            columns[i] = new PgColumn(name, type, format, kind, response.ColumnRule(name), recording.ColumnRule(name));
        }

        return columns;
    }

    /// <summary>
    /// Whether a masker may change any value of these columns (else rows pass untouched). Throws
    /// <see cref="MaskingException"/> for a binary column of a type that may hold text Hoop cannot read (an array,
    /// a record, an extension's type) while detectors apply: it fails closed rather than pass such values unsearched.
    /// </summary>
    public static bool Masks(Masker masker, PgColumn[] columns, bool response)
    {
        if (masker.IsEmpty)
        {
            return false;
        }

        var masks = false;
        foreach (var c in columns)
        {
            if ((response ? c.ResponseRule : c.RecordingRule) is not null)
            {
                masks = true;
            }
            else if (c.Kind is PgValueKind.Json or PgValueKind.JsonbBinary && (masker.HasPatterns || masker.HasFieldRules))
            {
                masks = true;
            }
            else if (c.Kind == PgValueKind.Text && masker.HasPatterns)
            {
                masks = true;
            }
            else if (c.Kind == PgValueKind.Opaque && c.Format != 0 && !Opaque.Contains(c.TypeOid) && masker.HasPatterns)
            {
                throw new MaskingException(
                    $"column \"{c.Name}\" has type {c.TypeOid} in binary format, which Hoop cannot search for masking; ask for text format, or mask the column by name");
            }
        }

        return masks;
    }

    /// <summary>The values of a DataRow (null for SQL NULL).</summary>
    public static byte[]?[] Values(ReadOnlySpan<byte> body)
    {
        var reader = new PgReader(body);
        var count = reader.Int16();
        if (count < 0)
        {
            throw new PgProtocolException("08P01", "invalid DataRow");
        }

        var values = new byte[]?[count];
        for (var i = 0; i < count; i++)
        {
            var length = reader.Int32();
            values[i] = length < 0 ? null : reader.Bytes(length).ToArray();
        }

        return values;
    }

    /// <summary>A DataRow with these values.</summary>
    public static void WriteRow(IBufferWriter<byte> writer, byte[]?[] values)
    {
        var length = 4 + 2 + values.Sum(v => 4 + (v?.Length ?? 0));
        var span = writer.GetSpan(1 + length);
        span[0] = (byte)'D';
        BinaryPrimitives.WriteInt32BigEndian(span[1..], length);
        BinaryPrimitives.WriteInt16BigEndian(span[5..], (short)values.Length);
        var at = 7;
        foreach (var value in values)
        {
            BinaryPrimitives.WriteInt32BigEndian(span[at..], value?.Length ?? -1);
            at += 4;
            value?.CopyTo(span[at..]);
            at += value?.Length ?? 0;
        }

        writer.Advance(1 + length);
    }

    /// <summary>
    /// The values with everything the masker finds masked (a copy; the input is not changed). Throws
    /// <see cref="MaskingException"/> when a value cannot be masked (a json value that does not parse, with field rules).
    /// </summary>
    public static byte[]?[] Mask(byte[]?[] values, PgColumn[] columns, Masker masker, bool response, MaskingCounts counts)
    {
        var masked = (byte[]?[])values.Clone();
        for (var i = 0; i < masked.Length && i < columns.Length; i++)
        {
            if (masked[i] is { } value)
            {
                masked[i] = MaskValue(value, columns[i], response ? columns[i].ResponseRule : columns[i].RecordingRule, masker, counts);
            }
        }

        return masked;
    }

    private static byte[]? MaskValue(byte[] value, PgColumn column, CompiledMaskingRule? rule, Masker masker, MaskingCounts counts)
    {
        if (rule is not null)
        {
            counts.Add(rule.CountedAs);
            var text = masker.Apply(rule, Encoding.UTF8.GetString(column.Kind == PgValueKind.JsonbBinary && value.Length > 0 ? value.AsSpan(1) : value));
            return column.Kind switch
            {
                PgValueKind.Text => Encoding.UTF8.GetBytes(text),
                PgValueKind.Json => JsonSerializer.SerializeToUtf8Bytes(text),
                PgValueKind.JsonbBinary => [1, .. JsonSerializer.SerializeToUtf8Bytes(text)],
                _ => null,
            };
        }

        switch (column.Kind)
        {
            case PgValueKind.Text when masker.HasPatterns:
                var original = Encoding.UTF8.GetString(value);
                var masked = masker.MaskText(original, counts);
                return ReferenceEquals(masked, original) ? value : Encoding.UTF8.GetBytes(masked);
            case PgValueKind.Json when masker.HasPatterns || masker.HasFieldRules:
                return masker.MaskJson(value, counts);
            case PgValueKind.JsonbBinary when value.Length > 0 && (masker.HasPatterns || masker.HasFieldRules):
                return [value[0], .. masker.MaskJson(value.AsSpan(1), counts)];
            default:
                return value;
        }
    }

    /// <summary>A value as the recording shows it: as text, binary values of common types decoded, others described.</summary>
    public static string? Display(byte[]? value, PgColumn? column) => value switch
    {
        null => null,
        _ when column is null || column.Format == 0 || column.Kind == PgValueKind.Text => Encoding.UTF8.GetString(value),
        _ when column.Kind == PgValueKind.JsonbBinary && value.Length > 0 => Encoding.UTF8.GetString(value.AsSpan(1)),
        _ => DisplayBinary(value, column.TypeOid),
    };

    /// <summary>A binary-format value of type <paramref name="oid"/> as text, where the type is a common one.</summary>
    public static string DisplayBinary(ReadOnlySpan<byte> value, int oid) => (oid, value.Length) switch
    {
        (16, 1) => value[0] != 0 ? "true" : "false",
        (21, 2) => BinaryPrimitives.ReadInt16BigEndian(value).ToString(System.Globalization.CultureInfo.InvariantCulture),
        (23 or 26, 4) => BinaryPrimitives.ReadInt32BigEndian(value).ToString(System.Globalization.CultureInfo.InvariantCulture),
        (20, 8) => BinaryPrimitives.ReadInt64BigEndian(value).ToString(System.Globalization.CultureInfo.InvariantCulture),
        (700, 4) => BinaryPrimitives.ReadSingleBigEndian(value).ToString(System.Globalization.CultureInfo.InvariantCulture),
        (701, 8) => BinaryPrimitives.ReadDoubleBigEndian(value).ToString(System.Globalization.CultureInfo.InvariantCulture),
        (2950, 16) => new Guid(value, bigEndian: true).ToString(),
        (25 or 1043 or 1042 or 19 or 114 or 705 or 142, _) => Encoding.UTF8.GetString(value),
        _ => $"(binary, {value.Length} bytes)",
    };
}
