using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Hoop.Admin.Console;

/// <summary>Recorded content (and what agents sent) as the console shows it: JSON indented, and never anything invisible.</summary>
public static class RecordedText
{
    /// <summary>JSON indented for reading; anything that is not JSON as it is.</summary>
    public static string Pretty(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return JsonSerializer.Serialize(document.RootElement, PrettyJson);
        }
        catch (JsonException)
        {
            return json;
        }
    }

    private static readonly JsonSerializerOptions PrettyJson = new()
    {
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>
    /// Recorded text as it may be shown: control characters (ANSI and OSC escapes start with one) and the
    /// invisible direction marks that can make text read other than it is become visible escapes.
    /// </summary>
    public static string Inert(string text)
    {
        var shown = new StringBuilder(text.Length);
        foreach (var rune in text.EnumerateRunes())
        {
            // Controls, format characters (direction marks, zero-width characters, Unicode tags), line and
            // paragraph separators, and lone surrogates: none prints as itself.
            var hidden = rune.Value is not ('\n' or '\t') && Rune.GetUnicodeCategory(rune) is UnicodeCategory.Control
                or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
                or UnicodeCategory.Surrogate or UnicodeCategory.OtherNotAssigned;
            shown.Append(hidden ? (rune.IsBmp ? $"\\u{rune.Value:x4}" : $"\\U{rune.Value:x8}") : rune.ToString());
        }

        return shown.ToString();
    }
}
