using System.Net;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Proxy.Model;

/// <summary>
/// The checks on certificate settings, shared by start-up (appsettings.json) and the console: each returns the
/// problem in plain words, or null when the value is fine.
/// </summary>
public static class CertificateSettingsRules
{
    public static string? HostName(string name) => Uri.CheckHostName(name) == UriHostNameType.Unknown
        ? $"'{name}' is not a host name. List the DNS names (or IP addresses) agents use to reach Hoop, such as hoop.example.com."
        : null;

    /// <summary>
    /// Why an ACME order must leave <paramref name="name"/> out, or null when a CA may issue it. No CA validates
    /// loopback names, single labels or IP addresses (orders carry DNS names); public CAs refuse the suffixes kept
    /// for private and test use, which a private or test CA (step-ca, pebble) may issue when
    /// <paramref name="allowReservedNames"/> says so. Refusing here keeps one such name from failing the whole order.
    /// </summary>
    public static string? AcmeName(string name, bool allowReservedNames)
    {
        if (IPAddress.TryParse(name, out _))
        {
            return $"'{name}' is an IP address; ACME orders DNS names only.";
        }

        if (name.Equals("localhost", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return $"'{name}' is a loopback name (.localhost) that no CA can validate.";
        }

        if (!name.Contains('.', StringComparison.Ordinal))
        {
            return $"'{name}' is a single label; CAs issue only full DNS names such as hoop.example.com.";
        }

        var reserved = ReservedSuffixes.FirstOrDefault(s => name.EndsWith(s, StringComparison.OrdinalIgnoreCase));
        return reserved is null || allowReservedNames
            ? null
            : $"'{name}' is under {reserved}, kept for private or test use, which public CAs such as Let's Encrypt refuse "
                + "(set Hoop:Acme:AllowReservedNames=true if your CA is private or a test server that issues it).";
    }

    // RFC 6761 (.test, .example, .invalid), RFC 6762 (.local), RFC 7686 (.onion), RFC 8375 (.home.arpa), ICANN 2024 (.internal).
    private static readonly string[] ReservedSuffixes = [".test", ".example", ".invalid", ".local", ".onion", ".home.arpa", ".internal"];

    public static string? DirectoryUrl(string text, out Uri? url) =>
        Uri.TryCreate(text, UriKind.Absolute, out url) && url.Scheme == Uri.UriSchemeHttps
            ? null
            : $"'{text}' is not an https URL of an ACME directory, such as https://acme-v02.api.letsencrypt.org/directory.";

    public static string? Email(string text) => text.Contains('@', StringComparison.Ordinal) && !text.Contains(' ', StringComparison.Ordinal)
        ? null
        : $"'{text}' is not an email address.";

    public static string? EabMacKey(string text)
    {
        try
        {
            return text.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '=') && Base64UrlEncoder.DecodeBytes(text.TrimEnd('=')).Length > 0
                ? null
                : "The EAB MAC key is not base64url. Paste it exactly as the CA gave it.";
        }
        catch (FormatException)
        {
            return "The EAB MAC key is not base64url. Paste it exactly as the CA gave it.";
        }
    }

    public static string? Challenge(string text, out AcmeChallengeType challenge)
    {
        (challenge, var known) = text.Trim().ToLowerInvariant() switch
        {
            "http-01" => (AcmeChallengeType.Http01, true),
            "tls-alpn-01" => (AcmeChallengeType.TlsAlpn01, true),
            _ => (AcmeChallengeType.Http01, false),
        };
        return known ? null : $"'{text}' is not supported. Use http-01 (on Hoop:AcmeHttpPort) or tls-alpn-01 (on the proxy port).";
    }

    public static string? KeyType(string text, out CertificateKeyType keyType)
    {
        (keyType, var known) = text.Trim().ToLowerInvariant() switch
        {
            "ecdsa-p256" => (CertificateKeyType.EcdsaP256, true),
            "rsa-2048" => (CertificateKeyType.Rsa2048, true),
            _ => (CertificateKeyType.EcdsaP256, false),
        };
        return known ? null : $"'{text}' is not supported. Use ecdsa-p256 or rsa-2048.";
    }

    /// <summary>The names as the settings use them: trimmed, lower case, each once.</summary>
    public static string[] Normalize(IEnumerable<string?> names) =>
        names.Select(n => n?.Trim().ToLowerInvariant()).Where(n => !string.IsNullOrEmpty(n)).Cast<string>().Distinct().ToArray();

    public static string Name(AcmeChallengeType challenge) => challenge == AcmeChallengeType.TlsAlpn01 ? "tls-alpn-01" : "http-01";

    public static string Name(CertificateKeyType keyType) => keyType == CertificateKeyType.Rsa2048 ? "rsa-2048" : "ecdsa-p256";
}
