using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Proxy.Identity;

/// <summary>
/// Validates agents' OIDC access tokens against the configured issuers: discovery and JWKS fetched and cached,
/// one early refresh when a token names an unknown key, issuer, audience and lifetime checked, asymmetric
/// signatures only (alg "none" and HS* are refused).
/// </summary>
public sealed partial class TokenValidator
{
    private static readonly TimeSpan KeysLifetime = TimeSpan.FromHours(12);
    private static readonly TimeSpan MinimumRefreshInterval = TimeSpan.FromSeconds(10);
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
    private readonly Dictionary<string, Issuer> _issuers;
    private readonly TimeProvider _time;
    private readonly ILogger<TokenValidator> _logger;

    public TokenValidator(IdentityOptions options, IHttpClientFactory httpClients, TimeProvider time, ILogger<TokenValidator> logger)
    {
        _time = time;
        _logger = logger;
        _issuers = options.Issuers.ToDictionary(
            i => i.Authority,
            i => new Issuer(i, new HttpDocumentRetriever(httpClients.CreateClient("oidc")) { RequireHttps = i.RequireHttpsMetadata }),
            StringComparer.Ordinal);
    }

    public async Task<(Caller? Caller, AuthenticationFailure? Failure)> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        if (_validated.TryGetValue(token, out var cached))
        {
            if (cached.Until > now)
            {
                return (cached.Caller, null);
            }

            _validated.TryRemove(token, out _);
        }

        var (caller, failure, expires) = await ValidateUncachedAsync(token, cancellationToken);
        if (caller is not null)
        {
            if (_validated.Count >= CacheCapacity)
            {
                _validated.Clear(); // Rare, and only costs re-validation.
            }

            var until = now + CacheLifetime < expires ? now + CacheLifetime : expires;
            _validated[token] = new Validated(caller, until);
        }

        return (caller, failure);
    }

    private sealed record Validated(Caller Caller, DateTime Until);

    private async Task<(Caller? Caller, AuthenticationFailure? Failure, DateTime Expires)> ValidateUncachedAsync(string token, CancellationToken cancellationToken)
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

        if (!_issuers.TryGetValue(jwt.Issuer, out var issuer))
        {
            return Fail($"Tokens from issuer '{Truncate(jwt.Issuer)}' are not accepted here.");
        }

        OpenIdConnectConfiguration configuration;
        try
        {
            configuration = await issuer.GetConfigurationAsync(_time, refresh: false, cancellationToken);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or SecurityTokenException or TaskCanceledException)
        {
            LogDiscoveryFailed(issuer.Options.Authority, e.Message);
            return Fail($"Hoop could not read the signing keys of issuer '{issuer.Options.Authority}'.");
        }

        var result = await _handler.ValidateTokenAsync(jwt, Parameters(issuer.Options, configuration));
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException && issuer.MayRefresh(_time))
        {
            // The issuer may have rotated its keys: fetch them once more, then try again.
            try
            {
                configuration = await issuer.GetConfigurationAsync(_time, refresh: true, cancellationToken);
                result = await _handler.ValidateTokenAsync(jwt, Parameters(issuer.Options, configuration));
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or SecurityTokenException or TaskCanceledException)
            {
                LogDiscoveryFailed(issuer.Options.Authority, e.Message);
            }
        }

        if (!result.IsValid)
        {
            return Fail(Explain(result.Exception, jwt));
        }

        var identity = result.ClaimsIdentity;
        var subject = identity.FindFirst("sub")?.Value ?? identity.FindFirst("client_id")?.Value ?? "unknown";
        var name = identity.FindFirst("preferred_username")?.Value ?? identity.FindFirst("name")?.Value
            ?? identity.FindFirst("client_id")?.Value ?? identity.FindFirst("azp")?.Value ?? subject;
        return (new Caller(subject, name, Groups(jwt, issuer.Options.GroupsClaim), CallerKind.Token), null, jwt.ValidTo);
    }

    private TokenValidationParameters Parameters(IssuerOptions issuer, OpenIdConnectConfiguration configuration) => new()
    {
        ValidIssuer = issuer.Authority,
        ValidAudience = issuer.Audience,
        IssuerSigningKeys = configuration.SigningKeys,
        ValidAlgorithms = AsymmetricAlgorithms,
        RequireSignedTokens = true,
        RequireExpirationTime = true,
        ValidateLifetime = true,
        ClockSkew = ClockSkew,
        LifetimeValidator = (notBefore, expires, _, _) =>
        {
            var now = _time.GetUtcNow().UtcDateTime;
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
    private static List<string> Groups(JsonWebToken jwt, string claim)
    {
        IEnumerable<string> names =
            jwt.TryGetPayloadValue<JsonElement>(claim, out var value) && value.ValueKind == JsonValueKind.Array
                ? value.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)
                : jwt.TryGetPayloadValue<string>(claim, out var text) && text is not null
                    ? text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    : [];
        return names.Where(n => !string.IsNullOrWhiteSpace(n)).Distinct(StringComparer.Ordinal).ToList();
    }

    private static (Caller?, AuthenticationFailure?, DateTime) Fail(string reason) => (null, new AuthenticationFailure(reason), default);

    private static string Truncate(string? value) => value is null ? "" : value.Length <= 120 ? value : value[..120] + "…";

    [LoggerMessage(4001, LogLevel.Warning, "Could not read discovery or keys of issuer {Issuer}: {Error}")]
    private partial void LogDiscoveryFailed(string issuer, string error);

    /// <summary>
    /// One issuer's discovery document and keys, cached for 12 hours, fetched early at most every 10 seconds.
    /// While the issuer is unreachable its last keys stay in use, and it is asked again every minute.
    /// </summary>
    private sealed class Issuer(IssuerOptions options, IDocumentRetriever retriever)
    {
        private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromMinutes(1);

        private readonly SemaphoreSlim _gate = new(1, 1);
        private OpenIdConnectConfiguration? _configuration;
        private DateTimeOffset _validUntil;
        private DateTimeOffset _lastAttempt;

        public IssuerOptions Options => options;

        public bool MayRefresh(TimeProvider time) => time.GetUtcNow() - _lastAttempt >= MinimumRefreshInterval;

        public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(TimeProvider time, bool refresh, CancellationToken cancellationToken)
        {
            var current = _configuration;
            if (current is not null && !refresh && time.GetUtcNow() < _validUntil)
            {
                return current;
            }

            await _gate.WaitAsync(cancellationToken);
            try
            {
                // Another caller may have fetched while this one waited.
                var now = time.GetUtcNow();
                if (_configuration is not null && (refresh ? now - _lastAttempt < MinimumRefreshInterval : now < _validUntil))
                {
                    return _configuration;
                }

                _lastAttempt = now;
                try
                {
                    _configuration = await OpenIdConnectConfigurationRetriever.GetAsync(options.DiscoveryUrl, retriever, cancellationToken);
                    _validUntil = now + KeysLifetime;
                }
                catch (Exception) when (_configuration is not null && !cancellationToken.IsCancellationRequested)
                {
                    _validUntil = now + RetryAfterFailure;
                }

                return _configuration;
            }
            finally
            {
                _gate.Release();
            }
        }
    }
}
