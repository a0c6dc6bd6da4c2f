using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Proxy.Certificates.Acme;

/// <summary>
/// The JSON Web Signatures ACME speaks (RFC 8555 section 6.2): flattened JWS, ES256 with the account key
/// (P-256, raw r||s signature), and the HS256 inner JWS of External Account Binding (section 7.3.4).
/// </summary>
internal sealed class Jws(ECDsa accountKey)
{
    public ECDsa Key => accountKey;

    /// <summary>The account key's public JWK, members in the order RFC 7638 hashes them.</summary>
    public JsonObject Jwk()
    {
        var p = accountKey.ExportParameters(includePrivateParameters: false);
        return new JsonObject
        {
            ["crv"] = "P-256",
            ["kty"] = "EC",
            ["x"] = Base64UrlEncoder.Encode(p.Q.X),
            ["y"] = Base64UrlEncoder.Encode(p.Q.Y),
        };
    }

    /// <summary>RFC 7638 thumbprint of the account key: the second half of every key authorization.</summary>
    public string Thumbprint() =>
        Base64UrlEncoder.Encode(SHA256.HashData(Encoding.UTF8.GetBytes(Jwk().ToJsonString())));

    /// <summary>
    /// Signs a request body. <paramref name="payload"/> null means POST-as-GET (empty payload); <paramref name="kid"/> is
    /// the account URL, or null while creating the account (the JWK is sent instead).
    /// </summary>
    public string Sign(string url, string nonce, string? kid, JsonNode? payload)
    {
        var header = new JsonObject { ["alg"] = "ES256", ["nonce"] = nonce, ["url"] = url };
        if (kid is null)
        {
            header["jwk"] = Jwk();
        }
        else
        {
            header["kid"] = kid;
        }

        var protectedPart = Base64UrlEncoder.Encode(header.ToJsonString());
        var payloadPart = payload is null ? "" : Base64UrlEncoder.Encode(payload.ToJsonString());
        var signature = accountKey.SignData(Encoding.ASCII.GetBytes($"{protectedPart}.{payloadPart}"), HashAlgorithmName.SHA256,
            DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return Flattened(protectedPart, payloadPart, signature);
    }

    /// <summary>The externalAccountBinding value: the account's JWK, MACed with the key the CA handed out.</summary>
    public JsonNode ExternalAccountBinding(string keyId, string macKeyBase64Url, string newAccountUrl)
    {
        var header = new JsonObject { ["alg"] = "HS256", ["kid"] = keyId, ["url"] = newAccountUrl };
        var protectedPart = Base64UrlEncoder.Encode(header.ToJsonString());
        var payloadPart = Base64UrlEncoder.Encode(Jwk().ToJsonString());
        var signature = HMACSHA256.HashData(Base64UrlEncoder.DecodeBytes(macKeyBase64Url), Encoding.ASCII.GetBytes($"{protectedPart}.{payloadPart}"));
        return JsonNode.Parse(Flattened(protectedPart, payloadPart, signature))!;
    }

    private static string Flattened(string protectedPart, string payloadPart, byte[] signature) =>
        JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["protected"] = protectedPart,
            ["payload"] = payloadPart,
            ["signature"] = Base64UrlEncoder.Encode(signature),
        });
}
