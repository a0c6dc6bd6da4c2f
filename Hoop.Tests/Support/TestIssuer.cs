using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Tests.Support;

/// <summary>
/// An OIDC issuer in the test process: a discovery document and a JWKS served by real Kestrel on loopback,
/// and tokens signed with its keys (or deliberately wrong ones).
/// </summary>
public sealed class TestIssuer : IAsyncDisposable
{
    public const string Audience = "hoop";

    private readonly WebApplication _app;
    private readonly List<(string Kid, RSA Key)> _published = [];

    private TestIssuer(WebApplication app, string? tlsHost)
    {
        _app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Authority = tlsHost is null ? $"http://127.0.0.1:{new Uri(address).Port}" : $"https://{tlsHost}:{new Uri(address).Port}";
        Publish("k1");
    }

    public string Authority { get; }

    /// <summary>Discovery and JWKS requests seen, so tests can tell when keys were fetched.</summary>
    public int JwksFetches { get; private set; }

    /// <summary>
    /// Plain http on loopback, or with <paramref name="certificate"/> https, its authority named <paramref name="tlsHost"/>
    /// (a provider behind a private CA).
    /// </summary>
    public static async Task<TestIssuer> StartAsync(System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null, string tlsHost = "localhost")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen =>
        {
            if (certificate is not null)
            {
                listen.UseHttps(certificate);
            }
        }));
        var app = builder.Build();
        TestIssuer? issuer = null;
        app.MapGet("/.well-known/openid-configuration", () => Results.Json(new
        {
            issuer = issuer!.Authority,
            jwks_uri = issuer.Authority + "/jwks",
            // Where a console sign-in would go; nothing answers there (tests read the redirect).
            authorization_endpoint = issuer.Authority + "/authorize",
            token_endpoint = issuer.Authority + "/token",
            id_token_signing_alg_values_supported = new[] { "RS256" },
        }));
        app.MapGet("/jwks", () =>
        {
            issuer!.JwksFetches++;
            lock (issuer._published)
            {
                return Results.Json(new { keys = issuer._published.Select(k => Jwk(k.Kid, k.Key)).ToArray() });
            }
        });
        await app.StartAsync();
        issuer = new TestIssuer(app, certificate is null ? null : tlsHost);
        return issuer;
    }

    /// <summary>Adds a signing key to the JWKS (key rotation).</summary>
    public void Publish(string kid)
    {
        lock (_published)
        {
            _published.Add((kid, RSA.Create(2048)));
        }
    }

    public string Token(string subject = "agent-1", IEnumerable<string>? groups = null, string? audience = Audience, string? issuer = null,
        DateTime? expires = null, string kid = "k1", object? groupsClaimValue = null)
    {
        var claims = new Dictionary<string, object> { ["groups"] = groupsClaimValue ?? (groups ?? ["billing-agents"]).ToArray() };
        if (subject.Length > 0)
        {
            // An empty subject makes a token that names no one.
            claims["sub"] = subject;
            claims["client_id"] = subject;
        }
        var key = KeyOf(kid) ?? RSA.Create(2048); // an unpublished kid gets a key nobody knows
        var now = DateTime.UtcNow;
        // Valid from ten minutes before it expires, or from a minute ago for a long-lived one.
        var from = new[] { now.AddMinutes(-1), (expires ?? now.AddMinutes(5)).AddMinutes(-10) }.Min();
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer ?? Authority,
            Audience = audience,
            Claims = claims,
            IssuedAt = from,
            NotBefore = from,
            Expires = expires ?? now.AddMinutes(5),
            SigningCredentials = new SigningCredentials(new RsaSecurityKey(key) { KeyId = kid }, SecurityAlgorithms.RsaSha256),
        });
    }

    /// <summary>A token with "alg": "none" and no signature.</summary>
    public string UnsignedToken() =>
        $"{B64(JsonSerializer.Serialize(new { alg = "none", typ = "JWT" }))}.{B64(JsonSerializer.Serialize(new { iss = Authority, aud = Audience, sub = "agent-1", groups = new[] { "billing-agents" }, exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds() }))}.";

    /// <summary>The classic confusion attack: HS256 with the issuer's public key as the HMAC secret.</summary>
    public string HmacWithPublicKeyToken()
    {
        var publicKey = KeyOf("k1")!.ExportSubjectPublicKeyInfo();
        return new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Authority,
            Audience = Audience,
            Claims = new Dictionary<string, object> { ["sub"] = "agent-1", ["groups"] = new[] { "billing-agents" } },
            Expires = DateTime.UtcNow.AddMinutes(5),
            SigningCredentials = new SigningCredentials(new SymmetricSecurityKey(publicKey) { KeyId = "k1" }, SecurityAlgorithms.HmacSha256),
        });
    }

    private RSA? KeyOf(string kid)
    {
        lock (_published)
        {
            return _published.FirstOrDefault(k => k.Kid == kid).Key;
        }
    }

    private static object Jwk(string kid, RSA key)
    {
        var p = key.ExportParameters(false);
        return new { kty = "RSA", use = "sig", alg = "RS256", kid, n = Base64UrlEncoder.Encode(p.Modulus), e = Base64UrlEncoder.Encode(p.Exponent) };
    }

    private static string B64(string json) => Base64UrlEncoder.Encode(Encoding.UTF8.GetBytes(json));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
