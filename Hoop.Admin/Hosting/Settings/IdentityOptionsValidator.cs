using System.Security.Cryptography;
using Hoop.Proxy.Model;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

/// <summary>The issuers of Hoop:Identity:Issuers; their CA bundle files are read after binding.</summary>
internal sealed class IdentityOptionsValidator : IValidateOptions<IdentityOptions>
{
    public ValidateOptionsResult Validate(string? name, IdentityOptions options)
    {
        var problems = new SettingProblems("Hoop:Identity:Issuers");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (issuer, index) in options.Issuers.Select((issuer, index) => (issuer, index)))
        {
            var authority = issuer.Authority?.Trim();
            if (!Uri.TryCreate(authority, UriKind.Absolute, out var url)
                || (url.Scheme != Uri.UriSchemeHttps && !(url.Scheme == Uri.UriSchemeHttp && !issuer.RequireHttpsMetadata)))
            {
                problems.Add($"{index}:Authority", $"'{authority}' is not an https URL. Set it to the issuer URL exactly as tokens carry it in 'iss' (plain http only with RequireHttpsMetadata=false, for a local test provider).");
            }
            else if (!seen.Add(authority!))
            {
                problems.Add($"{index}:Authority", $"'{authority}' is configured twice. List each issuer once.");
            }

            if (string.IsNullOrWhiteSpace(issuer.Audience))
            {
                problems.Add($"{index}:Audience", "is missing. Set it to the 'aud' value the issuer puts in access tokens meant for Hoop.");
            }

            if (!string.IsNullOrWhiteSpace(issuer.MetadataAddress) && !Uri.TryCreate(issuer.MetadataAddress.Trim(), UriKind.Absolute, out _))
            {
                problems.Add($"{index}:MetadataAddress", $"'{issuer.MetadataAddress}' is not a URL.");
            }

            if (!string.IsNullOrWhiteSpace(issuer.CaBundleFile) && ReadBundle(issuer.CaBundleFile) is { Problem: { } unreadable })
            {
                problems.Add($"{index}:CaBundleFile", $"'{issuer.CaBundleFile}' cannot be read as PEM certificates ({unreadable}).");
            }
        }

        return problems.Result;
    }

    /// <summary>After binding: texts trimmed, defaults filled, each CA bundle file read into the issuer's PEM.</summary>
    public static void Complete(IdentityOptions options) =>
        options.Issuers = [.. options.Issuers.Select(i => new IssuerOptions
        {
            Authority = i.Authority?.Trim() ?? "",
            Audience = i.Audience?.Trim() ?? "",
            GroupsClaim = string.IsNullOrWhiteSpace(i.GroupsClaim) ? "groups" : i.GroupsClaim.Trim(),
            MetadataAddress = string.IsNullOrWhiteSpace(i.MetadataAddress) ? null : i.MetadataAddress.Trim(),
            RequireHttpsMetadata = i.RequireHttpsMetadata,
            DisplayName = string.IsNullOrWhiteSpace(i.DisplayName) ? null : i.DisplayName.Trim(),
            ClientId = string.IsNullOrWhiteSpace(i.ClientId) ? null : i.ClientId.Trim(),
            ClientSecret = string.IsNullOrEmpty(i.ClientSecret) ? null : i.ClientSecret,
            CaBundleFile = string.IsNullOrWhiteSpace(i.CaBundleFile) ? null : i.CaBundleFile.Trim(),
            CaBundlePem = string.IsNullOrWhiteSpace(i.CaBundleFile) ? i.CaBundlePem : ReadBundle(i.CaBundleFile).Pem,
        })];

    private static (string? Pem, string? Problem) ReadBundle(string file)
    {
        try
        {
            var pem = File.ReadAllText(file.Trim());
            _ = IssuerOptions.ReadBundle(pem);
            return (pem, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            return (null, e.Message);
        }
    }
}
