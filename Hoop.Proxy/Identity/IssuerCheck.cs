using System.Text.Json;
using Hoop.Proxy.Model;

namespace Hoop.Proxy.Identity;

/// <summary>What is wrong with an issuer as entered, and which field it concerns.</summary>
public sealed record IssuerProblem(string Field, string Message);

/// <summary>
/// Reads an issuer's discovery document and keys as the data path will, before it is saved: reachable, its TLS
/// trusted (system roots or its CA bundle), its <c>issuer</c> the URL entered (to the trailing slash, since tokens
/// are compared with it exactly), and keys published at its <c>jwks_uri</c>.
/// </summary>
public sealed class IssuerCheck(IssuerHttp http)
{
    public async Task<IssuerProblem?> CheckAsync(IssuerOptions issuer, CancellationToken cancellationToken)
    {
        var retriever = http.Retriever(issuer);
        string discovery;
        try
        {
            discovery = await retriever.GetDocumentAsync(issuer.DiscoveryUrl, cancellationToken);
        }
        catch (IssuerFetchException e)
        {
            return Problem(e, $"The discovery document at {issuer.DiscoveryUrl} could not be read");
        }

        string? stated, jwksUri;
        try
        {
            using var document = JsonDocument.Parse(discovery);
            stated = Text(document.RootElement, "issuer");
            jwksUri = Text(document.RootElement, "jwks_uri");
        }
        catch (JsonException)
        {
            return new("authority", $"{issuer.DiscoveryUrl} is not a discovery document (not JSON).");
        }

        if (stated is null)
        {
            return new("authority", $"The discovery document at {issuer.DiscoveryUrl} names no issuer.");
        }

        if (stated != issuer.Authority)
        {
            return new("authority", stated.TrimEnd('/') == issuer.Authority.TrimEnd('/')
                ? $"The provider gives its issuer as '{stated}', {(stated.EndsWith('/') ? "with" : "without")} a trailing slash; tokens carry it so in 'iss' and are compared exactly, so enter '{stated}'."
                : $"The provider's discovery document gives its issuer as '{stated}', not '{issuer.Authority}'; enter the issuer exactly as tokens carry it in 'iss'.");
        }

        if (jwksUri is null)
        {
            return new("authority", $"The discovery document at {issuer.DiscoveryUrl} has no jwks_uri: the provider publishes no keys to check tokens with.");
        }

        try
        {
            var keys = new Microsoft.IdentityModel.Tokens.JsonWebKeySet(await retriever.GetDocumentAsync(jwksUri, cancellationToken));
            if (keys.GetSigningKeys().Count == 0)
            {
                return new("authority", $"The provider's keys at {jwksUri} hold no signing key.");
            }
        }
        catch (IssuerFetchException e)
        {
            return Problem(e, $"The provider's keys at {jwksUri} could not be read");
        }
        catch (ArgumentException)
        {
            return new("authority", $"The provider's keys at {jwksUri} are not a JSON Web Key Set.");
        }

        return null;
    }

    /// <summary>A TLS failure concerns the CA bundle (the trust), anything else the address.</summary>
    private static IssuerProblem Problem(IssuerFetchException e, string what) =>
        new(e.Tls ? "caBundlePem" : "authority", $"{what}: {e.Message.TrimEnd('.')}.");

    private static string? Text(JsonElement root, string name) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
