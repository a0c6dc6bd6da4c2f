using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Hoop.Data.Entities;

namespace Hoop.Proxy.Masking;

/// <summary>How many values each detector masked: kept per exchange and summed per session.</summary>
public sealed class MaskingCounts
{
    private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);

    public int Total { get; private set; }

    public IReadOnlyDictionary<string, int> ByDetector => _counts;

    public void Add(string detector, int count = 1)
    {
        _counts[detector] = _counts.GetValueOrDefault(detector) + count;
        Total += count;
    }

    public void Add(MaskingCounts other)
    {
        foreach (var (detector, count) in other._counts)
        {
            Add(detector, count);
        }
    }
}

/// <summary>Where masking of a body stopped; the message names the rule or the reason, never the content.</summary>
public sealed class MaskingException(string message) : Exception(message);

/// <summary>
/// Masks with one set of rules (those that apply to one caller, connection and direction). JSON is masked value by
/// value and stays valid JSON with its structure and plain numbers intact; form bodies field by field; other text
/// by pattern. Pseudonyms are an HMAC under the gateway's key, so equal values get equal tokens.
/// </summary>
public sealed class Masker(IReadOnlyList<CompiledMaskingRule> rules, byte[] pseudonymKey)
{
    private readonly CompiledMaskingRule[] _patterns = rules.Where(r => r.Detector is not null).ToArray();
    private readonly CompiledMaskingRule[] _fields = rules.Where(r => r.Fields.Count > 0).ToArray();
    private readonly CompiledMaskingRule[] _blocks = rules.Where(r => r.BlockedType is not null).ToArray();
    private readonly CompiledMaskingRule[] _columns = rules.Where(r => r.Columns.Count > 0).ToArray();

    /// <summary>Whether any rule finds values by pattern (so every text value needs a look).</summary>
    public bool HasPatterns => _patterns.Length > 0;

    /// <summary>The column rule that masks every value of a result column with this name, or null.</summary>
    public CompiledMaskingRule? ColumnRule(string column)
    {
        foreach (var rule in _columns)
        {
            if (rule.Columns.Contains(column))
            {
                return rule;
            }
        }

        return null;
    }

    /// <summary>No rules: everything passes as it is.</summary>
    public static readonly Masker None = new([], []);

    public bool IsEmpty => rules.Count == 0;

    /// <summary>Whether both apply exactly the same rules (so one's output stands for the other's).</summary>
    public bool SameRulesAs(Masker other) => rules.Count == other.Rules.Count && rules.SequenceEqual(other.Rules);

    private IReadOnlyList<CompiledMaskingRule> Rules => rules;

    /// <summary>Whether a rule masks by JSON field (which needs the whole document).</summary>
    public bool HasFieldRules => _fields.Length > 0;

    /// <summary>Whether a content-type rule blocks bodies of this type.</summary>
    public bool Blocks(string? contentType) => _blocks.Any(b => b.Blocks(contentType));

    /// <summary>
    /// Masks a whole body by its content type; other types pass through unless a content-type rule blocks them.
    /// Anything that keeps a body from being masked fails closed with a <see cref="MaskingException"/>.
    /// </summary>
    public byte[] MaskBody(ReadOnlySpan<byte> body, string? contentType, MaskingCounts counts)
    {
        CheckBlocked(contentType);
        var kind = KindOf(contentType);
        if (kind == BodyKind.Other)
        {
            return body.ToArray();
        }

        CheckCharset(contentType);
        try
        {
            return kind switch
            {
                BodyKind.Json => MaskJson(body, counts),
                BodyKind.Form => Encoding.UTF8.GetBytes(MaskForm(Encoding.UTF8.GetString(body), counts)),
                BodyKind.EventStream or BodyKind.JsonLines => Encoding.UTF8.GetBytes(string.Join('\n',
                    Encoding.UTF8.GetString(body).Split('\n').Select(line => MaskLineKeepingBreak(line, kind, counts)))),
                _ => Encoding.UTF8.GetBytes(MaskText(Encoding.UTF8.GetString(body), counts)),
            };
        }
        catch (Exception e) when (e is not MaskingException)
        {
            // Never the content in the message: only what kind of failure it was.
            throw new MaskingException($"Masking failed ({e.GetType().Name}), so the body was not passed on.");
        }
    }

    /// <summary>Throws when a content-type rule blocks bodies of this type.</summary>
    public void CheckBlocked(string? contentType)
    {
        if (_blocks.FirstOrDefault(b => b.Blocks(contentType)) is { } block)
        {
            throw new MaskingException($"Bodies of type {contentType} are blocked by masking rule '{block.Name}'.");
        }
    }

    /// <summary>Text is masked as UTF-8 (ASCII included); a body in another charset cannot be, so it fails closed.</summary>
    public static void CheckCharset(string? contentType)
    {
        if (OtherCharset(contentType) is { } charset)
        {
            throw new MaskingException($"The body is in charset {charset}; only UTF-8 text can be masked, so it was not passed on.");
        }
    }

    /// <summary>A charset the content type names other than UTF-8 (or ASCII, its subset); null for UTF-8 text.</summary>
    public static string? OtherCharset(string? contentType)
    {
        foreach (var parameter in (contentType ?? "").Split(';').Skip(1))
        {
            var pair = parameter.Split('=', 2);
            if (pair.Length == 2 && pair[0].Trim().Equals("charset", StringComparison.OrdinalIgnoreCase)
                && pair[1].Trim().Trim('"').ToLowerInvariant() is not ("utf-8" or "utf8" or "us-ascii" or "ascii"))
            {
                return pair[1].Trim();
            }
        }

        return null;
    }

    public enum BodyKind
    {
        Other,
        Json,
        Form,
        Text,

        /// <summary>Server-sent events: masked line by line as they stream, each "data:" payload as JSON when it is.</summary>
        EventStream,

        /// <summary>One JSON document per line (NDJSON), masked line by line as they stream.</summary>
        JsonLines,
    }

    /// <summary>Whether bodies of this kind are masked as a stream of lines rather than held whole.</summary>
    public static bool IsLines(BodyKind kind) => kind is BodyKind.EventStream or BodyKind.JsonLines;

    /// <summary>A line that may end in '\r' (CRLF line breaks): the '\r' stays, the rest is masked.</summary>
    public string MaskLineKeepingBreak(string line, BodyKind kind, MaskingCounts counts) =>
        line.EndsWith('\r') ? MaskLine(line[..^1], kind, counts) + "\r" : MaskLine(line, kind, counts);

    /// <summary>
    /// One line of an event stream or of JSON lines (without its line break): JSON masked value by value, the
    /// rest by pattern.
    /// </summary>
    public string MaskLine(string line, BodyKind kind, MaskingCounts counts)
    {
        if (kind == BodyKind.EventStream)
        {
            // "data: {...}" carries the payload; "event:", "id:", comments and the rest are text.
            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                var payload = line[5..];
                var space = payload.StartsWith(' ') ? " " : "";
                var trimmed = payload.TrimStart();
                return trimmed.StartsWith('{') || trimmed.StartsWith('[')
                    ? "data:" + space + Encoding.UTF8.GetString(MaskJson(Encoding.UTF8.GetBytes(trimmed), counts))
                    : "data:" + MaskText(payload, counts);
            }

            return MaskText(line, counts);
        }

        return line.Trim().Length == 0 ? line : Encoding.UTF8.GetString(MaskJson(Encoding.UTF8.GetBytes(line), counts));
    }

    /// <summary>Whether a body of this type is text (recorded and searched as text, masked, read by guardrails).</summary>
    public static bool IsText(string? contentType) => KindOf(contentType) != BodyKind.Other;

    public static BodyKind KindOf(string? contentType)
    {
        var media = contentType?.Split(';')[0].Trim().ToLowerInvariant();
        return media switch
        {
            null or "" => BodyKind.Other,
            "application/json" => BodyKind.Json,
            _ when media.EndsWith("+json", StringComparison.Ordinal) => BodyKind.Json,
            "application/x-www-form-urlencoded" => BodyKind.Form,
            "text/event-stream" => BodyKind.EventStream,
            "application/x-ndjson" or "application/jsonl" or "application/json-seq" => BodyKind.JsonLines,
            _ when media.StartsWith("text/", StringComparison.Ordinal) || media.EndsWith("/xml", StringComparison.Ordinal)
                || media.EndsWith("+xml", StringComparison.Ordinal) || media.EndsWith("javascript", StringComparison.Ordinal) => BodyKind.Text,
            _ => BodyKind.Other,
        };
    }

    /// <summary>Every value any pattern rule finds, replaced in its rule's style (overlaps: the earliest, then longest, wins).</summary>
    public string MaskText(string text, MaskingCounts counts)
    {
        if (_patterns.Length == 0 || text.Length == 0)
        {
            return text;
        }

        List<(int Start, int Length, CompiledMaskingRule Rule)>? found = null;
        var traits = TextTraits.Of(text);
        foreach (var rule in _patterns)
        {
            foreach (var (start, length) in rule.Detector!.Find(traits))
            {
                (found ??= []).Add((start, length, rule));
            }
        }

        if (found is null)
        {
            return text;
        }

        found.Sort((a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : b.Length.CompareTo(a.Length));
        var result = new StringBuilder(text.Length);
        var at = 0;
        foreach (var (start, length, rule) in found)
        {
            if (start < at)
            {
                continue;
            }

            result.Append(text, at, start - at);
            result.Append(Apply(rule, text.Substring(start, length)));
            counts.Add(rule.CountedAs);
            at = start + length;
        }

        return result.Append(text, at, text.Length - at).ToString();
    }

    /// <summary>A value in a rule's style: [LABEL], ****1234, or [LABEL:pseudonym].</summary>
    public string Apply(CompiledMaskingRule rule, string value) => rule.Style switch
    {
        MaskStyle.Partial => Partial(value, rule.KeepLast),
        MaskStyle.Pseudonym => $"[{rule.Label}:{Pseudonym(rule.Label, value)}]",
        _ => $"[{rule.Label}]",
    };

    /// <summary>Letters and digits become '*' except the last <paramref name="keepLast"/> (all, for a value no longer than that); separators stay.</summary>
    private static string Partial(string value, int keepLast)
    {
        var chars = value.ToCharArray();
        var keep = value.Count(char.IsLetterOrDigit) > keepLast ? keepLast : 0;
        for (var i = chars.Length - 1; i >= 0; i--)
        {
            if (!char.IsLetterOrDigit(chars[i]))
            {
                continue;
            }

            if (keep > 0)
            {
                keep--;
                continue;
            }

            chars[i] = '*';
        }

        return new string(chars);
    }

    private string Pseudonym(string label, string value)
    {
        Span<byte> hash = stackalloc byte[32];
        HMACSHA256.HashData(pseudonymKey, Encoding.UTF8.GetBytes($"{label}\n{value}"), hash);
        return Convert.ToHexStringLower(hash[..6]);
    }

    /// <summary>
    /// Masks a JSON document value by value. A body that is not valid JSON is masked as text, unless a rule masks
    /// by field: its fields cannot be found then, so it fails closed.
    /// </summary>
    public byte[] MaskJson(ReadOnlySpan<byte> json, MaskingCounts counts)
    {
        var utf8Bom = "\uFEFF"u8;
        if (json.StartsWith(utf8Bom))
        {
            json = json[utf8Bom.Length..];
        }

        try
        {
            return MaskValidJson(json, counts);
        }
        catch (JsonException) when (_fields.Length == 0)
        {
            // Declared JSON but is not: no fields to find, so patterns over the text.
            return Encoding.UTF8.GetBytes(MaskText(Encoding.UTF8.GetString(json), counts));
        }
        catch (JsonException)
        {
            throw new MaskingException("The body is declared JSON but does not parse as JSON, so its fields cannot be masked; it was not passed on.");
        }
    }

    private byte[] MaskValidJson(ReadOnlySpan<byte> json, MaskingCounts counts)
    {
        var output = new ArrayBufferWriter<byte>(json.Length + 64);
        using (var writer = new Utf8JsonWriter(output, WriterOptions))
        {
            var reader = new Utf8JsonReader(json, ReaderOptions);
            var path = new List<string>();
            var containers = new Stack<bool>(); // per open container: whether it pushed a name onto path
            string? property = null;
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject or JsonTokenType.StartArray:
                        containers.Push(property is not null);
                        if (property is not null)
                        {
                            path.Add(property);
                        }

                        property = null;
                        if (reader.TokenType == JsonTokenType.StartObject)
                        {
                            writer.WriteStartObject();
                        }
                        else
                        {
                            writer.WriteStartArray();
                        }

                        break;
                    case JsonTokenType.EndObject or JsonTokenType.EndArray:
                        if (containers.Pop())
                        {
                            path.RemoveAt(path.Count - 1);
                        }

                        property = null;
                        if (reader.TokenType == JsonTokenType.EndObject)
                        {
                            writer.WriteEndObject();
                        }
                        else
                        {
                            writer.WriteEndArray();
                        }

                        break;
                    case JsonTokenType.PropertyName when _fields.Length == 0 && !reader.ValueIsEscaped:
                        // No field rules: the name is not needed as a string, only passed on.
                        writer.WritePropertyName(reader.ValueSpan);
                        break;
                    case JsonTokenType.PropertyName:
                        property = reader.GetString()!;
                        writer.WritePropertyName(property);
                        break;
                    default:
                        WriteScalar(writer, ref reader, path, property, counts);
                        property = null;
                        break;
                }
            }
        }

        return output.WrittenSpan.ToArray();
    }

    private void WriteScalar(Utf8JsonWriter writer, ref Utf8JsonReader reader, List<string> path, string? property, MaskingCounts counts)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            writer.WriteNullValue();
            return;
        }

        var text = reader.TokenType == JsonTokenType.String ? reader.GetString()! : Encoding.UTF8.GetString(reader.ValueSpan);
        if (_fields.Length > 0 && FieldRule(path, property) is { } rule)
        {
            writer.WriteStringValue(Apply(rule, text));
            counts.Add(rule.CountedAs);
            return;
        }

        var masked = MaskText(text, counts);
        if (reader.TokenType == JsonTokenType.String && ReferenceEquals(masked, text) && !reader.ValueIsEscaped)
        {
            writer.WriteStringValue(reader.ValueSpan); // Unchanged: its UTF-8 as it came, not transcoded twice.
        }
        else if (reader.TokenType == JsonTokenType.String || !ReferenceEquals(masked, text))
        {
            writer.WriteStringValue(masked);
        }
        else
        {
            writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true);
        }
    }

    private CompiledMaskingRule? FieldRule(List<string> path, string? property)
    {
        if (property is not null)
        {
            path.Add(property);
        }

        try
        {
            return _fields.FirstOrDefault(f => f.MatchesField(path));
        }
        finally
        {
            if (property is not null)
            {
                path.RemoveAt(path.Count - 1);
            }
        }
    }

    /// <summary>Each field of a form body: a field rule on its name masks the value whole, else patterns; unchanged pairs keep their bytes.</summary>
    private string MaskForm(string form, MaskingCounts counts)
    {
        var pairs = form.Split('&');
        for (var i = 0; i < pairs.Length; i++)
        {
            var equals = pairs[i].IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                continue;
            }

            var name = WebUtility.UrlDecode(pairs[i][..equals]);
            var value = WebUtility.UrlDecode(pairs[i][(equals + 1)..]);
            var rule = _fields.FirstOrDefault(f => f.MatchesField([name]));
            var masked = rule is not null ? Apply(rule, value) : MaskText(value, counts);
            if (rule is not null)
            {
                counts.Add(rule.CountedAs);
            }

            if (!ReferenceEquals(masked, value))
            {
                pairs[i] = $"{pairs[i][..equals]}={WebUtility.UrlEncode(masked)}";
            }
        }

        return string.Join('&', pairs);
    }

    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 256 };

    // Relaxed escaping keeps non-ASCII text readable; the output is still valid JSON.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, MaxDepth = 256 };
}
