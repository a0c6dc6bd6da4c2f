using System.Buffers;
using System.Net;
using System.Text;
using System.Text.Json;
using Hoop.Data.Entities;

namespace Hoop.Proxy.Credentials;

/// <summary>
/// Finds a connection's stored secret in what a backend sends back (an echo endpoint, a debug page, an error that
/// quotes the Authorization header) and replaces it with <see cref="Removed"/>, so no agent ever receives it.
/// It looks for every form the secret takes on the wire: as stored, as sent (the Basic header's base64), and as
/// JSON, URL and HTML text would escape either. One vectorised search per form: a handful of forms, each a
/// memchr-speed scan, beats a regex or a per-byte automaton at the sizes that matter.
/// </summary>
internal sealed class SecretScrubber
{
    public const string Removed = "[removed]";

    private static readonly byte[] RemovedBytes = Encoding.ASCII.GetBytes(Removed);

    public static readonly SecretScrubber None = new([]);

    private readonly byte[][] _forms;
    private readonly SearchValues<byte> _firstBytes;

    private SecretScrubber(IReadOnlyList<string> forms)
    {
        // Longest first: where two forms match at the same place, the whole of the longer one goes.
        Forms = forms.Distinct(StringComparer.Ordinal).Where(f => f.Length > 0).OrderByDescending(f => f.Length).ToArray();
        _forms = Forms.Select(Encoding.UTF8.GetBytes).ToArray();
        _firstBytes = SearchValues.Create(_forms.Select(f => f[0]).Distinct().ToArray());
        MaxFormBytes = _forms.Length == 0 ? 0 : _forms.Max(f => f.Length);
    }

    /// <summary>Every form searched for, longest first (for text that is already a string: recorded headers, bodies).</summary>
    public IReadOnlyList<string> Forms { get; }

    public bool IsEmpty => _forms.Length == 0;

    /// <summary>The longest form in bytes: a stream holds back at most this many bytes less one between reads.</summary>
    public int MaxFormBytes { get; }

    /// <summary>The forms a connection's credential takes, as stored and as sent, and escaped as JSON, URL and HTML would.</summary>
    public static SecretScrubber For(CredentialKind kind, string? name, string? secret)
    {
        if (string.IsNullOrEmpty(secret))
        {
            return None;
        }

        List<string> sent = [secret];
        if (kind == CredentialKind.Basic)
        {
            sent.Add(Convert.ToBase64String(Encoding.UTF8.GetBytes($"{name}:{secret}")));
        }

        var forms = new List<string>();
        foreach (var value in sent)
        {
            forms.Add(value);
            var json = JsonEncodedText.Encode(value).Value; // System.Text.Json's default: HTML-sensitive and non-ASCII as \uXXXX
            forms.Add(json);
            forms.Add(MinimalJson(value));
            forms.Add(MinimalJson(value).Replace("/", "\\/", StringComparison.Ordinal)); // PHP, Go's HTML-safe encoders
            forms.Add(Uri.EscapeDataString(value));
            forms.Add(WebUtility.UrlEncode(value));
            forms.Add(WebUtility.HtmlEncode(value));
        }

        return new SecretScrubber(forms);
    }

    /// <summary>Whether any form occurs in <paramref name="data"/>.</summary>
    public bool Contains(ReadOnlySpan<byte> data)
    {
        foreach (var form in _forms)
        {
            if (data.IndexOf(form) >= 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether any form occurs in <paramref name="text"/>.</summary>
    public bool Contains(string text)
    {
        foreach (var form in Forms)
        {
            if (text.Contains(form, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Text with every form replaced; <paramref name="found"/> says whether there was any.</summary>
    public string Scrub(string text, out bool found)
    {
        found = false;
        foreach (var form in Forms)
        {
            if (text.Contains(form, StringComparison.Ordinal))
            {
                text = text.Replace(form, Removed, StringComparison.Ordinal);
                found = true;
            }
        }

        return text;
    }

    /// <summary>
    /// Text for a recording with every form replaced. A capture cut off at its cap (<paramref name="cut"/>) may end
    /// in the first part of a form: that tail goes too.
    /// </summary>
    public string ScrubRecorded(string text, bool cut)
    {
        text = Scrub(text, out _);
        if (!cut)
        {
            return text;
        }

        foreach (var form in Forms)
        {
            for (var length = Math.Min(form.Length - 1, text.Length); length >= 4; length--)
            {
                if (text.EndsWith(form.AsSpan(0, length), StringComparison.Ordinal))
                {
                    return text[..^length] + Removed;
                }
            }
        }

        return text;
    }

    /// <summary>
    /// Writes <paramref name="data"/> to <paramref name="output"/> with every form replaced. Unless
    /// <paramref name="final"/>, a tail that could be the start of a form split across reads is kept back:
    /// <paramref name="consumed"/> says how much of the data was written (the rest goes in front of the next read).
    /// Returns how many forms were replaced.
    /// </summary>
    public int Scrub(ReadOnlySpan<byte> data, IBufferWriter<byte> output, bool final, out int consumed)
    {
        var replaced = 0;
        var at = 0;
        while (NextMatch(data[at..]) is var (offset, length) && length > 0)
        {
            output.Write(data.Slice(at, offset));
            output.Write(RemovedBytes);
            at += offset + length;
            replaced++;
        }

        var end = final ? data.Length : data.Length - PartialTail(data[at..]);
        output.Write(data[at..end]);
        consumed = end;
        return replaced;
    }

    /// <summary>A scrubbed copy of <paramref name="data"/>, or null when no form occurs in it (the common case: no copy).</summary>
    public byte[]? Scrub(ReadOnlySpan<byte> data, out int replaced)
    {
        replaced = 0;
        if (!Contains(data))
        {
            return null;
        }

        var output = new ArrayBufferWriter<byte>(data.Length);
        replaced = Scrub(data, output, final: true, out _);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>The earliest match of any form (the longest where several start at the same byte).</summary>
    private (int Offset, int Length) NextMatch(ReadOnlySpan<byte> data)
    {
        var best = (Offset: int.MaxValue, Length: 0);
        foreach (var form in _forms)
        {
            // Only a match that starts before the best so far matters: it ends before best + its length.
            var window = best.Length == 0 ? data : data[..Math.Min(data.Length, best.Offset + form.Length - 1)];
            var offset = window.IndexOf(form);
            if (offset >= 0 && offset < best.Offset)
            {
                best = (offset, form.Length);
            }
        }

        return best;
    }

    /// <summary>The length of the longest tail of <paramref name="data"/> that is the start of some form.</summary>
    private int PartialTail(ReadOnlySpan<byte> data)
    {
        var from = Math.Max(0, data.Length - (MaxFormBytes - 1));
        for (var start = from; start < data.Length; start++)
        {
            var next = data[start..].IndexOfAny(_firstBytes);
            if (next < 0)
            {
                return 0;
            }

            start += next;
            var tail = data[start..];
            foreach (var form in _forms)
            {
                if (form.Length > tail.Length && form.AsSpan().StartsWith(tail))
                {
                    return tail.Length;
                }
            }
        }

        return 0;
    }

    private static string MinimalJson(string value)
    {
        var text = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            _ = c switch
            {
                '"' => text.Append("\\\""),
                '\\' => text.Append("\\\\"),
                < ' ' => text.Append($"\\u{(int)c:x4}"),
                _ => text.Append(c),
            };
        }

        return text.ToString();
    }
}
