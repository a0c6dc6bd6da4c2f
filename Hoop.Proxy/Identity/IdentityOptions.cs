namespace Hoop.Proxy.Identity;

/// <summary>The OIDC issuers whose access tokens agents may present (Hoop:Identity).</summary>
public sealed class IdentityOptions
{
    public IReadOnlyList<IssuerOptions> Issuers { get; init; } = [];

    /// <summary>Header an agent may use for a Hoop API key instead of Authorization: Bearer.</summary>
    public const string ApiKeyHeader = "X-Hoop-Api-Key";
}

public sealed class IssuerOptions
{
    /// <summary>The issuer URL, exactly as in the tokens' iss claim; discovery is read from it.</summary>
    public required string Authority { get; init; }

    /// <summary>The aud value tokens must carry for Hoop.</summary>
    public required string Audience { get; init; }

    /// <summary>The claim listing the caller's groups (a JSON array or a space-separated string).</summary>
    public string GroupsClaim { get; init; } = "groups";

    /// <summary>Discovery document address; defaults to Authority + /.well-known/openid-configuration.</summary>
    public string? MetadataAddress { get; init; }

    /// <summary>Only for a provider on loopback in development: allows discovery over plain http.</summary>
    public bool RequireHttpsMetadata { get; init; } = true;

    public string DiscoveryUrl => MetadataAddress ?? Authority.TrimEnd('/') + "/.well-known/openid-configuration";
}
