namespace Hoop.Proxy.Model;

/// <summary>The OIDC issuers of appsettings.json, bound from Hoop:Identity; the console adds more to the store.</summary>
public sealed class IdentityOptions
{
    public IReadOnlyList<IssuerOptions> Issuers { get; set; } = [];

    /// <summary>Header an agent may use for a Hoop API key instead of Authorization: Bearer.</summary>
    public const string ApiKeyHeader = "X-Hoop-Api-Key";

    /// <summary>The console's session cookie. The console sets it; the proxy never lets a backend set or clear it.</summary>
    public const string ConsoleCookie = "__Host-hoop";
}
