using System.Globalization;

namespace Hoop.Admin.Management;

/// <summary>
/// The character, length and size rules every field of the configuration obeys, checked at save by the services
/// the console and the API share. What is stored ends up in URLs, HTTP headers, Postgres messages, logs and the
/// console: a control character there breaks the place it lands in, or hides what a record really says.
/// </summary>
internal static class FieldRules
{
    /// <summary>A name (of a group, key, header, claim): one line of printable text.</summary>
    public const int NameLength = 256;

    /// <summary>A URL, a host:port address.</summary>
    public const int AddressLength = 2048;

    /// <summary>A regex or a path glob: the non-backtracking engine's automaton grows with the pattern.</summary>
    public const int PatternLength = 1024;

    /// <summary>A secret sent in an HTTP header (bearer token, custom header): what backends accept in one header line.</summary>
    public const int HeaderSecretLength = 16 * 1024;

    /// <summary>Any other secret (a password, a base64 PKCS#12).</summary>
    public const int SecretLength = 256 * 1024;

    /// <summary>A list in an input (roles, connections, groups, directions, kinds).</summary>
    public const int ListLength = 256;

    /// <summary>Whether <paramref name="text"/> holds a character no name may hold: a control or format character, a line or paragraph separator, half a surrogate pair.</summary>
    public static bool HasInvisible(string text, bool allowLineBreaks = false)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }

            if (allowLineBreaks && c is '\n' or '\r' or '\t')
            {
                continue;
            }

            if (char.IsSurrogate(c) || char.GetUnicodeCategory(c) is UnicodeCategory.Control or UnicodeCategory.Format
                or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Checks a one-line value: at most <paramref name="maxLength"/> characters and nothing invisible. Adds the
    /// error to <paramref name="field"/> and returns false when it breaks a rule; null passes.
    /// </summary>
    public static bool Line(FieldErrors errors, string field, string? value, int maxLength = NameLength)
    {
        if (value is null)
        {
            return true;
        }

        if (value.Length > maxLength)
        {
            errors.Add(field, $"At most {maxLength:N0} characters.");
            return false;
        }

        if (HasInvisible(value))
        {
            errors.Add(field, "Control characters (NUL, line breaks, ESC, ...) and invisible formatting characters are not allowed here.");
            return false;
        }

        return true;
    }

    /// <summary>Free text shown to people (a message, a reason): line breaks and tabs allowed, other control characters not.</summary>
    public static bool Text(FieldErrors errors, string field, string? value, int maxLength)
    {
        if (value is null)
        {
            return true;
        }

        if (value.Length > maxLength)
        {
            errors.Add(field, $"At most {maxLength:N0} characters.");
            return false;
        }

        if (HasInvisible(value, allowLineBreaks: true))
        {
            errors.Add(field, "Control characters other than line breaks and tabs (NUL, ESC, ...) are not allowed here.");
            return false;
        }

        return true;
    }

    /// <summary>A list of at most <see cref="ListLength"/> one-line items.</summary>
    public static bool Items(FieldErrors errors, string field, IReadOnlyList<string?>? items, int maxLength = NameLength)
    {
        if (items is null)
        {
            return true;
        }

        if (items.Count > ListLength)
        {
            errors.Add(field, $"At most {ListLength} items.");
            return false;
        }

        if (items.Any(i => i is null))
        {
            errors.Add(field, "An item is null.");
            return false;
        }

        return items.All(i => Line(errors, field, i, maxLength));
    }

    /// <summary>
    /// An enum value given by its name (any case): never a number, never a comma-joined combination, only a
    /// defined member. The API's JSON refuses numbers already; the console sends names.
    /// </summary>
    public static bool TryName<TEnum>(string? text, out TEnum value) where TEnum : struct, Enum
    {
        value = default;
        return text is { Length: > 0 and <= 64 } && text.All(char.IsAsciiLetter) && Enum.TryParse(text, ignoreCase: true, out value) && Enum.IsDefined(value);
    }

    /// <summary>An enum value the JSON converter let through (a combination of flags read from "A, B") must still be one member.</summary>
    public static bool Defined<TEnum>(FieldErrors errors, string field, TEnum? value) where TEnum : struct, Enum
    {
        if (value is { } v && !Enum.IsDefined(v))
        {
            errors.Add(field, $"Use one of {string.Join(", ", Enum.GetNames<TEnum>())}.");
            return false;
        }

        return true;
    }
}
