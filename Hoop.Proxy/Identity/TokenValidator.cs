using System.Collections.Concurrent;
using System.Text.Json;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Proxy.Identity;

/// <summary>
/// Validates agents' OIDC access tokens against the issuers of the current policy (appsettings.json and the store):
/// keys from <see cref="IssuerMetadata"/>, one early refresh when a token names an unknown key, issuer, audience and lifetime checked, asymmetric
/// signatures only (alg "none" and HS* are refused).
/// </summary>
public sealed partial class TokenValidator
{
    private static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(30);

    private static readonly string[] AsymmetricAlgorithms =
    [
        SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
        SecurityAlgorithms.RsaSsaPssSha256, SecurityAlgorithms.RsaSsaPssSha384, SecurityAlgorithms.RsaSsaPssSha512,
        SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.EcdsaSha512,
    ];

    private const int CacheCapacity = 10_000;
    private static readonly TimeSpan CacheLifetime = TimeSpan.FromMinutes(5);

    private readonly JsonWebTokenHandler _handler = new() { MapInboundClaims = false };

    // Agents reuse a token for many requests: a token validated once is trusted until it expires (and for
    // at most five minutes), so the signature is checked once, not per request.
    private readonly ConcurrentDictionary<string, Validated> _validated = new(StringComparer.Ordinal);
    private readonly PolicyStore _policy;
    private readonly IssuerMetadata _metadata;
    private readonly TimeProvider _time;
    private readonly ILogger<TokenValidator> _logger;

    public TokenValidator(PolicyStore policy, IssuerMetadata metadata, TimeProvider time, ILogger<TokenValidator> logger)
    {
        _policy = policy;
        _metadata = metadata;
        _time = time;
        _logger = logger;
    }

    public async Task<(Caller? Caller, AuthenticationFailure? Failure)> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        if (_validated.TryGetValue(token, out var cached))
        {
            // An issuer removed in the console stops counting at once, cache or not.
            if (cached.Until > now && _policy.Current.Issuers.ContainsKey(cached.Issuer))
            {
                return (cached.Caller, null);
            }

            _validated.TryRemove(token, out _);
        }

        var (caller, failure, expires, issuer) = await ValidateUncachedAsync(token, cancellationToken);
        if (caller is not null)
        {
            if (_validated.Count >= CacheCapacity)
            {
                _validated.Clear(); // Rare, and only costs re-validation.
            }

            var until = now + CacheLifetime < expires ? now + CacheLifetime : expires;
            _validated[token] = new Validated(caller, until, issuer!);
        }

        return (caller, failure);
    }

    private sealed record Validated(Caller Caller, DateTime Until, string Issuer);

    private async Task<(Caller? Caller, AuthenticationFailure? Failure, DateTime Expires, string? Issuer)> ValidateUncachedAsync(string token, CancellationToken cancellationToken)
    {
        JsonWebToken jwt;
        try
        {
            jwt = _handler.ReadJsonWebToken(token);
        }
        catch (Exception e) when (e is ArgumentException or SecurityTokenMalformedException)
        {
            return Fail("The bearer token is neither a JWT nor a Hoop API key.");
        }

        if (!AsymmetricAlgorithms.Contains(jwt.Alg, StringComparer.Ordinal))
        {
            return Fail(jwt.Alg is "none" or "" ? "The token is not signed." : $"Tokens signed with '{Truncate(jwt.Alg)}' are not accepted; use an asymmetric algorithm.");
        }

        if (!_policy.Current.Issuers.TryGetValue(jwt.Issuer, out var issuer))
        {
            return Fail($"Tokens from issuer '{Truncate(jwt.Issuer)}' are not accepted here.");
        }

        OpenIdConnectConfiguration configuration;
        try
        {
            configuration = await _metadata.GetAsync(issuer, refresh: false, cancellationToken);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or SecurityTokenException or TaskCanceledException)
        {
            LogDiscoveryFailed(issuer.Authority, e.Message);
            return Fail($"Hoop could not read the signing keys of issuer '{issuer.Authority}': {IssuerMetadata.Cause(e).TrimEnd('.')}.");
        }

        var result = await _metadata.ValidateAsync(issuer, configuration, c => _handler.ValidateTokenAsync(jwt, Parameters(issuer, c)), cancellationToken);

        if (!result.IsValid)
        {
            return Fail(Explain(result.Exception, jwt));
        }

        var identity = result.ClaimsIdentity;
        // Who is calling decides whose sessions and approvals are whose: a token that names no one is refused.
        if ((identity.FindFirst("sub") ?? identity.FindFirst("client_id") ?? identity.FindFirst("azp"))?.Value is not { Length: > 0 } subject)
        {
            return Fail("The token names no subject (sub, client_id or azp), so Hoop cannot tell who is calling.");
        }

        var name = identity.FindFirst("preferred_username")?.Value ?? identity.FindFirst("name")?.Value
            ?? identity.FindFirst("client_id")?.Value ?? identity.FindFirst("azp")?.Value ?? subject;
        return (new Caller(subject, name, GroupsOf(jwt, issuer.GroupsClaim), CallerKind.Token) { Issuer = issuer.Authority }, null, jwt.ValidTo, issuer.Authority);
    }

    private TokenValidationParameters Parameters(IssuerOptions issuer, OpenIdConnectConfiguration configuration) =>
        Parameters(issuer.Authority, issuer.Audience, configuration, _time);

    /// <summary>
    /// How every token Hoop accepts is checked (agents' access tokens here, people's ID tokens at console sign-in):
    /// this issuer, this audience, the issuer's published asymmetric keys, an expiry, lifetime on the injected clock.
    /// </summary>
    public static TokenValidationParameters Parameters(string issuer, string audience, OpenIdConnectConfiguration configuration, TimeProvider time)
    {
        var parameters = Parameters(issuer, audience, time);
        parameters.IssuerSigningKeys = configuration.SigningKeys;
        return parameters;
    }

    /// <summary>The same checks without keys, for a caller that adds the issuer's keys itself (the console's OpenIdConnect handler).</summary>
    public static TokenValidationParameters Parameters(string issuer, string audience, TimeProvider time) => new()
    {
        ValidIssuer = issuer,
        ValidAudience = audience,
        ValidAlgorithms = AsymmetricAlgorithms,
        RequireSignedTokens = true,
        RequireExpirationTime = true,
        ValidateLifetime = true,
        ClockSkew = ClockSkew,
        LifetimeValidator = (notBefore, expires, _, _) =>
        {
            var now = time.GetUtcNow().UtcDateTime;
            return expires is { } exp && exp > now - ClockSkew && (notBefore is not { } nbf || nbf <= now + ClockSkew);
        },
    };

    private string Explain(Exception? error, JsonWebToken jwt) => error switch
    {
        SecurityTokenNoExpirationException => "The token has no expiry ('exp'); Hoop accepts only tokens that expire.",
        SecurityTokenInvalidLifetimeException or SecurityTokenExpiredException when jwt.ValidTo == DateTime.MinValue =>
            "The token has no expiry ('exp'); Hoop accepts only tokens that expire.",
        SecurityTokenInvalidLifetimeException or SecurityTokenExpiredException =>
            jwt.ValidTo > _time.GetUtcNow().UtcDateTime ? "The token is not valid yet." : $"The token expired at {jwt.ValidTo:u}.",
        SecurityTokenInvalidAudienceException => "The token's audience is not accepted here.",
        SecurityTokenInvalidIssuerException => "The token's issuer is not accepted here.",
        SecurityTokenSignatureKeyNotFoundException => "The token is signed with a key its issuer does not publish.",
        _ => "The token's signature is not valid.",
    };

    /// <summary>A JSON array's elements as they are (a group name may contain spaces); a single string split on spaces.</summary>
    public static List<string> GroupsOf(JsonWebToken jwt, string claim) =>
        jwt.TryGetPayloadValue<JsonElement>(claim, out var value) && value.ValueKind == JsonValueKind.Array
            ? GroupsOf(value)
            : jwt.TryGetPayloadValue<string>(claim, out var text) && text is not null ? GroupsOf(JsonSerializer.SerializeToElement(text)) : [];

    /// <summary>The same reading of a claim's JSON value (from a userinfo response).</summary>
    public static List<string> GroupsOf(JsonElement value)
    {
        IEnumerable<string> names = value.ValueKind switch
        {
            JsonValueKind.Array => value.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!),
            JsonValueKind.String => value.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            _ => [],
        };
        return names.Where(n => !string.IsNullOrWhiteSpace(n)).Distinct(StringComparer.Ordinal).ToList();
    }

    private static (Caller?, AuthenticationFailure?, DateTime, string?) Fail(string reason) => (null, new AuthenticationFailure(reason), default, null);

    private static string Truncate(string? value) => value is null ? "" : value.Length <= 120 ? value : value[..120] + "…";

    [LoggerMessage(4001, LogLevel.Warning, "Could not read discovery or keys of issuer {Issuer}: {Error}")]
    private partial void LogDiscoveryFailed(string issuer, string error);
}
