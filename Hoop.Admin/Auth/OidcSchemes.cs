using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Hoop.Admin.Auth;

/// <summary>
/// One ASP.NET Core OpenIdConnect scheme per identity provider that people may sign in with, kept in step with the
/// policy snapshot: a provider added in the console gets a scheme, a changed one (client, secret, CA bundle, discovery
/// address) has its options built again, a removed one loses its scheme, all without a restart.
/// </summary>
internal sealed partial class OidcSchemes(
    PolicyStore policy,
    IAuthenticationSchemeProvider schemes,
    IOptionsMonitorCache<OpenIdConnectOptions> optionsCache,
    ILogger<OidcSchemes> logger) : IHostedService, IDisposable
{
    private const string Prefix = "oidc-";

    private readonly Lock _gate = new();

    // What each scheme's options are built from. An entry outlives its scheme, so a request that began just before a
    // removal can still build options; the sign-in events then refuse it against the current policy.
    private readonly ConcurrentDictionary<string, IssuerOptions> _issuers = new(StringComparer.Ordinal);

    private volatile HashSet<string> _active = [];
    private volatile PolicySnapshot? _synced;
    private IDisposable? _subscription;

    /// <summary>The scheme name of a provider: stable for its authority, safe in a cookie name.</summary>
    public static string SchemeName(string authority) =>
        Prefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(authority)))[..16];

    /// <summary>The scheme that signs people in with <paramref name="authority"/>; null when it is not registered for console sign-in.</summary>
    public string? SchemeFor(string authority)
    {
        Sync();
        var name = SchemeName(authority);
        return _active.Contains(name) ? name : null;
    }

    /// <summary>The provider a scheme of this type was last built for (null for any other scheme).</summary>
    public IssuerOptions? IssuerOf(string scheme) => _issuers.GetValueOrDefault(scheme);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        Sync();
        _subscription = ChangeToken.OnChange(() => policy.ChangeToken, Sync);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _subscription?.Dispose();

    /// <summary>Brings the schemes in line with the current snapshot (at each swap, and before a sign-in or sign-out starts).</summary>
    private void Sync()
    {
        if (ReferenceEquals(policy.Current, _synced))
        {
            return;
        }

        lock (_gate)
        {
            var snapshot = policy.Current;
            if (ReferenceEquals(snapshot, _synced))
            {
                return;
            }

            var wanted = snapshot.Issuers.Values.Where(i => i.AllowsConsoleSignIn).ToDictionary(i => SchemeName(i.Authority), StringComparer.Ordinal);
            foreach (var (name, issuer) in wanted)
            {
                var known = _active.Contains(name) ? _issuers[name] : null;
                if (known is not null && SameSignIn(known, issuer))
                {
                    continue;
                }

                // The new settings first, then the cached options out: the next request builds them from the new settings.
                _issuers[name] = issuer;
                optionsCache.TryRemove(name);
                if (known is null)
                {
                    schemes.TryAddScheme(new AuthenticationScheme(name, issuer.DisplayName ?? issuer.Authority, typeof(OpenIdConnectHandler)));
                    LogAdded(issuer.Authority, name);
                }
                else
                {
                    LogChanged(issuer.Authority, name);
                }
            }

            foreach (var name in _active.Where(n => !wanted.ContainsKey(n)))
            {
                schemes.RemoveScheme(name);
                optionsCache.TryRemove(name);
                LogRemoved(_issuers[name].Authority, name);
            }

            _active = wanted.Keys.ToHashSet(StringComparer.Ordinal);
            _synced = snapshot;
        }
    }

    /// <summary>Whether two versions of a provider build the same handler options (the snapshot is rebuilt on any change).</summary>
    private static bool SameSignIn(IssuerOptions a, IssuerOptions b) =>
        a.Authority == b.Authority && a.DiscoveryUrl == b.DiscoveryUrl && a.RequireHttpsMetadata == b.RequireHttpsMetadata
        && a.ClientId == b.ClientId && a.ClientSecret == b.ClientSecret && a.CaBundlePem == b.CaBundlePem;

    [LoggerMessage(3023, LogLevel.Information, "Console sign-in with {Authority} enabled (scheme {Scheme})")]
    private partial void LogAdded(string authority, string scheme);

    [LoggerMessage(3024, LogLevel.Information, "Console sign-in with {Authority} changed; its handler options are built again (scheme {Scheme})")]
    private partial void LogChanged(string authority, string scheme);

    [LoggerMessage(3025, LogLevel.Information, "Console sign-in with {Authority} removed (scheme {Scheme})")]
    private partial void LogRemoved(string authority, string scheme);
}
