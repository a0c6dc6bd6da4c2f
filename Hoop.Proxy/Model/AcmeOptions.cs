using System.ComponentModel;
using System.Globalization;

namespace Hoop.Proxy.Model;

/// <summary>
/// Where and how Hoop gets its inbound certificate by ACME. Bound from Hoop:Acme (empty texts made null after
/// binding). No directory URL: ACME is off.
/// </summary>
public sealed record AcmeOptions
{
    /// <summary>The ACME server's directory, e.g. https://acme-v02.api.letsencrypt.org/directory.</summary>
    public Uri? DirectoryUrl { get; init; }

    /// <summary>Contact for the account (expiry notices from the CA).</summary>
    public string? Email { get; set; }

    /// <summary>External Account Binding, for CAs that require it (ZeroSSL, many internal CAs).</summary>
    public string? EabKeyId { get; set; }

    /// <summary>The EAB MAC key as the CA gave it (base64url).</summary>
    public string? EabMacKey { get; set; }

    public AcmeChallengeType Challenge { get; init; } = AcmeChallengeType.Http01;

    public CertificateKeyType KeyType { get; init; } = CertificateKeyType.EcdsaP256;

    /// <summary>A PEM file of roots to trust for the ACME server's own TLS (an internal CA such as step-ca).</summary>
    public string? TrustedRootsFile { get; set; }

    /// <summary>Where to POST a JSON alert (http or https) when the certificate has less than 14 days left and renewal keeps failing.</summary>
    public Uri? AlertWebhook { get; init; }

    /// <summary>
    /// The CA is private or a test server that issues names under suffixes kept for private and test use (.test,
    /// .internal, .local...), which public CAs refuse; without it, ACME leaves such names out of its orders.
    /// </summary>
    public bool AllowReservedNames { get; init; }

    public bool Enabled => DirectoryUrl is not null;

    /// <summary>The record's text (for logs and debuggers) without the EAB MAC key.</summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append($"DirectoryUrl = {DirectoryUrl}, Email = {Email}, EabKeyId = {EabKeyId}, EabMacKey = {(EabMacKey is null ? "" : "[set]")}, ");
        builder.Append($"Challenge = {Challenge}, KeyType = {KeyType}, TrustedRootsFile = {TrustedRootsFile}, AlertWebhook = {AlertWebhook}, ");
        builder.Append($"AllowReservedNames = {AllowReservedNames}");
        return true;
    }
}

[TypeConverter(typeof(AcmeNameConverter<AcmeChallengeType>))]
public enum AcmeChallengeType
{
    /// <summary>http-01, answered on Hoop:AcmeHttpPort (80 in production).</summary>
    Http01,

    /// <summary>tls-alpn-01, answered on the proxy port: for deployments that expose only 443.</summary>
    TlsAlpn01,
}

[TypeConverter(typeof(AcmeNameConverter<CertificateKeyType>))]
public enum CertificateKeyType
{
    EcdsaP256,
    Rsa2048,
}

/// <summary>Reads the names settings use (http-01, tls-alpn-01, ecdsa-p256, rsa-2048) into the enums, for binding.</summary>
internal sealed class AcmeNameConverter<T>() : EnumConverter(typeof(T)) where T : struct, Enum
{
    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value)
    {
        if (value is not string text)
        {
            return base.ConvertFrom(context, culture, value);
        }

        string? problem;
        object parsed;
        if (typeof(T) == typeof(AcmeChallengeType))
        {
            problem = CertificateSettingsRules.Challenge(text, out var challenge);
            parsed = challenge;
        }
        else
        {
            problem = CertificateSettingsRules.KeyType(text, out var keyType);
            parsed = keyType;
        }

        return problem is null ? parsed : throw new FormatException(problem);
    }
}
