using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using System.Text.RegularExpressions;

namespace Hoop.Proxy.Masking;

/// <summary>
/// Finds one kind of sensitive value in text: a pattern, and for checksummed kinds a check that look-alikes fail.
/// Every pattern runs on .NET's non-backtracking engine, so no input can make matching take more than linear time.
/// <paramref name="digitBounded"/>: a match must not touch a digit on either side. Numeric detectors use this
/// instead of \b, which needs a non-word character there, so that a number glued to letters or '_'
/// (4111111111111111x, cc4111111111111111) is still found; the engine has no lookarounds to say it in the pattern.
/// </summary>
public sealed class Detector(string name, string label, Regex pattern, Func<string, bool>? check = null, Func<TextTraits, bool>? mayContain = null,
    bool digitBounded = false)
{
    /// <summary>What rules name it by (email, card, ...) and what counts are kept under.</summary>
    public string Name => name;

    /// <summary>What a redacted value becomes: [EMAIL].</summary>
    public string Label => label;

    public IReadOnlyList<(int Start, int Length)> Find(string text) => Find(TextTraits.Of(text));

    /// <summary>Finds in a text whose traits are known (a masker works them out once for all its detectors).</summary>
    public IReadOnlyList<(int Start, int Length)> Find(in TextTraits traits)
    {
        // A cheap test first (an '@' for an email, 13 digits for a card): most text has none, and skips the regex.
        if (mayContain is not null && !mayContain(traits))
        {
            return [];
        }

        var text = traits.Text;
        List<(int, int)>? found = null;
        foreach (var match in pattern.EnumerateMatches(text))
        {
            if (digitBounded && !DigitBounded(text, match.Index, match.Length))
            {
                continue; // part of a longer run of digits: not this kind of value
            }

            if (check is null || check(text.Substring(match.Index, match.Length)))
            {
                (found ??= []).Add((match.Index, match.Length));
            }
        }

        return found is null ? [] : found;
    }

    private static bool DigitBounded(string text, int start, int length) =>
        (start == 0 || !char.IsAsciiDigit(text[start - 1])) && (start + length == text.Length || !char.IsAsciiDigit(text[start + length]));
}

/// <summary>
/// What one pass over a text counts, so that each detector's cheap test reads a number instead of scanning the text
/// again: a masker runs a dozen detectors over every JSON value, and most values are short and hold nothing.
/// </summary>
public readonly record struct TextTraits(string Text, int Digits, int Dots, int Colons, int Ats)
{
    public static TextTraits Of(string text)
    {
        int digits = 0, dots = 0, colons = 0, ats = 0;
        foreach (var c in text)
        {
            switch (c)
            {
                case >= '0' and <= '9': digits++; break;
                case '.': dots++; break;
                case ':': colons++; break;
                case '@': ats++; break;
            }
        }

        return new TextTraits(text, digits, dots, colons, ats);
    }
}

/// <summary>The built-in detectors, and the custom ones a rule compiles (regex, word list).</summary>
internal static class Detectors
{
    private const RegexOptions Options = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;

    // What every api-key pattern starts with (the shortest match is 15 characters: "xoxb-" and ten more).
    private static readonly SearchValues<string> ApiKeyPrefixes =
        SearchValues.Create(["sk-", "sk_", "gh", "github_pat_", "xox", "AIza", "glpat-", "earer "], StringComparison.Ordinal);

    public static readonly IReadOnlyDictionary<string, Detector> BuiltIn = new Detector[]
    {
        new("email", "EMAIL", Pattern(@"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"), mayContain: t => t.Ats > 0 && t.Dots > 0),
        // Unbroken, or in the printed groups (4-4-4-4, Amex 4-6-5): a longer run around a card must not hide it.
        // Numbers are bounded by digits, not word boundaries: 4111111111111111x and cc4111111111111111 are cards too.
        new("card", "CARD", Pattern(@"[0-9]{13,19}|[0-9]{4}([ \-][0-9]{4}){3}|[0-9]{4}[ \-][0-9]{6}[ \-][0-9]{5}"), IsCardNumber, t => t.Digits >= 13, digitBounded: true),
        new("ssn", "SSN", Pattern(@"[0-9]{3}-[0-9]{2}-[0-9]{4}"), IsSsn, t => t.Digits >= 9 && HasSsnShape(t.Text), digitBounded: true),
        new("phone", "PHONE", Pattern(@"(\+[0-9]{1,3}[ .\-]?)?(\([0-9]{2,4}\)[ .\-]?|[0-9]{2,4}[ .\-])[0-9]{3,4}[ .\-][0-9]{3,4}|\+[1-9][0-9]{9,14}"), IsPhone, t => t.Digits >= 10,
            digitBounded: true),
        new("iban", "IBAN", Pattern(@"\b[A-Z]{2}[0-9]{2}( ?[A-Z0-9]{4}){2,7}( ?[A-Z0-9]{1,3})?\b"), IsIban, t => t.Text.Length >= 15 && t.Digits >= 2 && HasCountryAndCheckDigits(t.Text)),
        new("ipv4", "IPV4", Pattern(@"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"), IsIPv4, t => t.Dots >= 3 && t.Digits >= 4, digitBounded: true),
        new("ipv6", "IPV6", Pattern(@"[0-9A-Fa-f]{0,4}(:[0-9A-Fa-f]{0,4}){2,7}"), IsIPv6, t => t.Colons >= 2),
        new("jwt", "JWT", Pattern(@"\beyJ[A-Za-z0-9_\-]+\.eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"), mayContain: t => t.Dots >= 2 && t.Text.Contains("eyJ", StringComparison.Ordinal)),
        new("aws-access-key", "AWS_ACCESS_KEY", Pattern(@"\b(AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), mayContain: t => t.Text.Length >= 20 && t.Text.Contains('A')),
        new("aws-secret-key", "AWS_SECRET_KEY", Pattern(@"[A-Za-z0-9/+]{40,}"), IsAwsSecretKey, t => t.Text.Length >= 40 && t.Digits > 0),
        new("api-key", "API_KEY", Pattern(
            @"\b(sk-[A-Za-z0-9_\-]{20,}|sk_(live|test)_[A-Za-z0-9]{20,}|gh[oprsu]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}" +
            @"|xox[abpr]-[A-Za-z0-9\-]{10,}|AIza[0-9A-Za-z_\-]{35}|glpat-[A-Za-z0-9_\-]{20,})|\b[Bb]earer [A-Za-z0-9._~+/\-]{20,}=*"),
            mayContain: t => t.Text.Length >= 15 && t.Text.AsSpan().ContainsAny(ApiKeyPrefixes)),
        new("pem-private-key", "PRIVATE_KEY", Pattern(@"-----BEGIN [A-Z ]*PRIVATE KEY-----[^\-]+-----END [A-Z ]*PRIVATE KEY-----"),
            mayContain: t => t.Text.Length >= 50 && t.Text.Contains("PRIVATE KEY", StringComparison.Ordinal)),
    }.ToDictionary(d => d.Name, StringComparer.Ordinal);

    /// <summary>A custom regex; throws <see cref="ArgumentException"/> (with the engine's reason) when it does not compile.</summary>
    public static Detector Custom(string name, string regex)
    {
        if (string.IsNullOrWhiteSpace(regex))
        {
            throw new ArgumentException("The pattern is empty.");
        }

        try
        {
            var compiled = new Regex(regex, Options);
            if (compiled.IsMatch(""))
            {
                throw new ArgumentException("The pattern matches empty text; it would mask nothing useful and everything in between.");
            }

            return new Detector(name, Label(name), compiled);
        }
        catch (NotSupportedException e)
        {
            // Lookarounds, backreferences and atomic groups need backtracking, which a crafted input can make take forever.
            throw new ArgumentException($"The pattern uses a construct the non-backtracking engine refuses: {e.Message}");
        }
    }

    /// <summary>Whole words or phrases from a list (one per line or comma-separated), case-insensitive.</summary>
    public static Detector Words(string name, string list)
    {
        var words = list.Split(['\n', '\r', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length == 0)
        {
            throw new ArgumentException("The word list is empty.");
        }

        var alternatives = string.Join("|", words.Select(Regex.Escape));
        try
        {
            return new Detector(name, Label(name), new Regex($@"\b({alternatives})\b", Options | RegexOptions.IgnoreCase));
        }
        catch (NotSupportedException)
        {
            // The non-backtracking engine's automaton has a size limit.
            throw new ArgumentException("The word list is too large for the matching engine; split it into several rules.");
        }
    }

    private static string Label(string name) =>
        new(name.ToUpperInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());

    private static Regex Pattern(string pattern) => new(pattern, Options);

    /// <summary>Two capital letters then two digits somewhere: how every IBAN starts.</summary>
    private static bool HasCountryAndCheckDigits(string text)
    {
        for (var i = 0; i + 3 < text.Length; i++)
        {
            if (char.IsAsciiLetterUpper(text[i]) && char.IsAsciiLetterUpper(text[i + 1]) && char.IsAsciiDigit(text[i + 2]) && char.IsAsciiDigit(text[i + 3]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Three digits, a dash, two digits, a dash, four digits somewhere: the shape of every SSN.</summary>
    private static bool HasSsnShape(string text)
    {
        for (var dash = text.IndexOf('-', 3); dash >= 0 && dash + 7 < text.Length; dash = text.IndexOf('-', dash + 1))
        {
            var s = text.AsSpan(dash - 3);
            if (char.IsAsciiDigit(s[0]) && char.IsAsciiDigit(s[1]) && char.IsAsciiDigit(s[2]) && char.IsAsciiDigit(s[4]) && char.IsAsciiDigit(s[5])
                && s[6] == '-' && char.IsAsciiDigit(s[7]) && char.IsAsciiDigit(s[8]) && char.IsAsciiDigit(s[9]) && char.IsAsciiDigit(s[10]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>13 to 19 digits passing the Luhn check.</summary>
    public static bool IsCardNumber(string text)
    {
        var digits = text.Where(char.IsAsciiDigit).Select(c => c - '0').ToArray();
        if (digits.Length is < 13 or > 19)
        {
            return false;
        }

        var sum = 0;
        for (var i = 0; i < digits.Length; i++)
        {
            var d = digits[digits.Length - 1 - i];
            if (i % 2 == 1)
            {
                d = d * 2 > 9 ? d * 2 - 9 : d * 2;
            }

            sum += d;
        }

        return sum % 10 == 0;
    }

    /// <summary>The SSA never issues area 000, 666 or 900-999, group 00 or serial 0000.</summary>
    private static bool IsSsn(string text) =>
        text[..3] is not ("000" or "666") && text[0] != '9' && text[4..6] != "00" && text[7..] != "0000";

    private static bool IsPhone(string text) => text.Count(char.IsAsciiDigit) is >= 10 and <= 15;

    /// <summary>ISO 13616: the country code and check digits moved to the end, letters as numbers, mod 97 is 1.</summary>
    public static bool IsIban(string text)
    {
        var compact = text.Replace(" ", "", StringComparison.Ordinal);
        if (compact.Length is < 15 or > 34)
        {
            return false;
        }

        var rearranged = compact[4..] + compact[..4];
        var digits = string.Concat(rearranged.Select(c => char.IsAsciiDigit(c) ? c.ToString() : (c - 'A' + 10).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return BigInteger.Parse(digits, System.Globalization.CultureInfo.InvariantCulture) % 97 == 1;
    }

    private static bool IsIPv4(string text) => text.Split('.').All(o => int.TryParse(o, System.Globalization.CultureInfo.InvariantCulture, out var octet) && octet <= 255);

    private static bool IsIPv6(string text) =>
        text.Count(c => c == ':') >= 2 && text.Any(char.IsAsciiHexDigit)
        && IPAddress.TryParse(text, out var address) && address.AddressFamily == AddressFamily.InterNetworkV6;

    /// <summary>
    /// A run of exactly 40 base64 characters (the pattern takes the whole run, so '/' or '+' at its ends count)
    /// of mixed case and digits: not a hex digest, not a word, not part of a longer blob.
    /// </summary>
    private static bool IsAwsSecretKey(string text) =>
        text.Length == 40 && text.Any(char.IsAsciiLetterUpper) && text.Any(char.IsAsciiLetterLower) && text.Any(char.IsAsciiDigit);
}
