using System.Security.Cryptography;
using System.Text;

namespace Hoop.Proxy.Identity;

/// <summary>Hoop API keys: "hoop_" and 256 random bits. Only the SHA-256 of a key is ever stored.</summary>
public static class ApiKeys
{
    public const string Prefix = "hoop_";

    public static (string Key, string Prefix, string Hash) Generate()
    {
        var key = Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));
        return (key, key[..12], Hash(key));
    }

    public static bool Looks(string value) => value.StartsWith(Prefix, StringComparison.Ordinal);

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
