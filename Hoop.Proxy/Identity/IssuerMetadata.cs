using System.Collections.Concurrent;
using Hoop.Proxy.Model;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Hoop.Proxy.Identity;

/// <summary>
/// Each issuer's discovery document and keys, shared by the proxy's token validation and the console's sign-in:
/// cached for 12 hours, fetched early at most every 10 seconds (a token naming an unknown key). While an issuer
/// is unreachable its last document stays in use, and it is asked again every minute.
/// </summary>
public sealed class IssuerMetadata(IssuerHttp http, TimeProvider time)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(12);
    private static readonly TimeSpan MinimumRefreshInterval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<(string Url, bool Https), Entry> _entries = new();

    /// <summary>
    /// Runs <paramref name="validate"/> with the issuer's keys; when the token names a key they lack (the issuer
    /// rotated its keys), fetches them once more, at most every 10 seconds, and validates again.
    /// </summary>
    public async Task<TokenValidationResult> ValidateAsync(IssuerOptions issuer, OpenIdConnectConfiguration configuration,
        Func<OpenIdConnectConfiguration, Task<TokenValidationResult>> validate, CancellationToken cancellationToken)
    {
        var result = await validate(configuration);
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException
            && time.GetUtcNow() - EntryFor(issuer).LastAttempt >= MinimumRefreshInterval)
        {
            result = await validate(await GetAsync(issuer, refresh: true, cancellationToken));
        }

        return result;
    }

    /// <exception cref="InvalidOperationException">The document could not be read and none was read before.</exception>
    public async Task<OpenIdConnectConfiguration> GetAsync(IssuerOptions issuer, bool refresh, CancellationToken cancellationToken)
    {
        var entry = EntryFor(issuer);
        var current = entry.Configuration;
        if (current is not null && !refresh && time.GetUtcNow() < entry.ValidUntil)
        {
            return current;
        }

        await entry.Gate.WaitAsync(cancellationToken);
        try
        {
            // Another caller may have fetched while this one waited.
            var now = time.GetUtcNow();
            if (entry.Configuration is not null && (refresh ? now - entry.LastAttempt < MinimumRefreshInterval : now < entry.ValidUntil))
            {
                return entry.Configuration;
            }

            entry.LastAttempt = now;
            try
            {
                entry.Configuration = await OpenIdConnectConfigurationRetriever.GetAsync(issuer.DiscoveryUrl, http.Retriever(issuer), cancellationToken);
                entry.ValidUntil = now + Lifetime;
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                if (entry.Configuration is null)
                {
                    // Unreachable, untrusted, not JSON, no keys: one kind of failure for every caller, naming the cause
                    // (the retriever's own, not the library's "IDX20804: Unable to retrieve document" around it).
                    throw new InvalidOperationException($"The discovery document or keys of {issuer.Authority} could not be read: {Cause(e)}", e);
                }

                entry.ValidUntil = now + RetryAfterFailure;
            }

            return entry.Configuration;
        }
        finally
        {
            entry.Gate.Release();
        }
    }

    /// <summary>The innermost <see cref="IssuerFetchException"/>'s words, else the exception's own.</summary>
    public static string Cause(Exception e)
    {
        for (var inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is IssuerFetchException fetch)
            {
                return fetch.Message;
            }
        }

        return e.Message;
    }

    private Entry EntryFor(IssuerOptions issuer) => _entries.GetOrAdd((issuer.DiscoveryUrl, issuer.RequireHttpsMetadata), _ => new Entry());

    private sealed class Entry
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public OpenIdConnectConfiguration? Configuration { get; set; }
        public DateTimeOffset ValidUntil { get; set; }
        public DateTimeOffset LastAttempt { get; set; }
    }
}
