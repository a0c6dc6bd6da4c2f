using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Entities;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Proxy.Model;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Certificates.Acme;

/// <summary>
/// Obtains a certificate for the host names from the ACME server and installs it: the account (its key kept
/// encrypted in the store), one order for the names a CA can issue, every authorization at once by the chosen
/// challenge, the CSR, the chain.
/// </summary>
public sealed partial class AcmeIssuer(
    IHttpClientFactory httpClients,
    IDbContextFactory<HoopDbContext> contexts,
    SecretProtector secrets,
    AcmeChallenges challenges,
    CertificateInstaller installer,
    TimeProvider time,
    ILogger<AcmeIssuer> logger)
{
    public const string HttpClientName = "acme";
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(2);

    /// <summary>A client signed with the stored account key (created on first use).</summary>
    internal async Task<AcmeClient> ConnectAsync(AcmeOptions options, CancellationToken cancellationToken)
    {
        var directory = options.DirectoryUrl ?? throw new InvalidOperationException("ACME is not configured.");
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var account = await db.AcmeAccounts.FirstOrDefaultAsync(a => a.DirectoryUrl == directory.ToString(), cancellationToken);
        ECDsa key;
        if (account is null)
        {
            key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            account = NewAccount(directory, key);
            db.AcmeAccounts.Add(account);
        }
        else
        {
            key = ECDsa.Create();
            key.ImportPkcs8PrivateKey(secrets.UnprotectBytes(account.ProtectedKey), out _);
        }

        var client = Client(directory, key);
        if (account.AccountUrl is null)
        {
            account.AccountUrl = await RegisterAsync(client, options, cancellationToken);
            account.Email = options.Email;
            await db.SaveChangesAsync(cancellationToken);
        }

        client.AccountUrl = account.AccountUrl;
        if (account.Email != options.Email)
        {
            // RFC 8555 section 7.3.2: the contact changes on the account itself.
            await client.UpdateContactAsync(options.Email, cancellationToken);
            account.Email = options.Email;
            await db.SaveChangesAsync(cancellationToken);
        }
        return client;
    }

    /// <summary>
    /// A new account whose key is not in the store yet: the first start orders while the store is still being
    /// created, and <see cref="SaveAccountAsync"/> keeps the key once it is ready.
    /// </summary>
    internal async Task<AcmeClient> RegisterUnstoredAsync(AcmeOptions options, ECDsa key, CancellationToken cancellationToken)
    {
        var client = Client(options.DirectoryUrl ?? throw new InvalidOperationException("ACME is not configured."), key);
        client.AccountUrl = await RegisterAsync(client, options, cancellationToken);
        return client;
    }

    /// <summary>Stores an account made by <see cref="RegisterUnstoredAsync"/>, unless one for its CA is stored already.</summary>
    public async Task SaveAccountAsync(AcmeOptions options, ECDsa key, string accountUrl, CancellationToken cancellationToken)
    {
        var directory = options.DirectoryUrl!.ToString();
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        if (await db.AcmeAccounts.AnyAsync(a => a.DirectoryUrl == directory, cancellationToken))
        {
            return;
        }

        var account = NewAccount(options.DirectoryUrl, key);
        account.AccountUrl = accountUrl;
        account.Email = options.Email;
        db.AcmeAccounts.Add(account);
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>An account for the CA at <paramref name="directory"/>, its key encrypted for the store.</summary>
    private AcmeAccount NewAccount(Uri directory, ECDsa key) => new()
    {
        DirectoryUrl = directory.ToString(),
        ProtectedKey = secrets.Protect(key.ExportPkcs8PrivateKey()),
        CreatedAt = time.GetUtcNow().UtcDateTime,
    };

    private AcmeClient Client(Uri directory, ECDsa key) => new(httpClients.CreateClient(HttpClientName), directory, new Jws(key), time);

    private async Task<string> RegisterAsync(AcmeClient client, AcmeOptions options, CancellationToken cancellationToken)
    {
        var eab = options.EabKeyId is { Length: > 0 } id && options.EabMacKey is { Length: > 0 } mac ? (id, mac) : ((string, string)?)null;
        var url = await client.AccountAsync(options.Email, eab, cancellationToken);
        LogAccount(url, options.DirectoryUrl!.Host);
        return url;
    }

    /// <summary>
    /// Orders, validates, finalizes, downloads, checks and installs. <paramref name="replaces"/> is the ARI id of the
    /// certificate renewed. The CA is told to validate once <paramref name="listening"/> completes (the ports that
    /// answer its challenges are open).
    /// </summary>
    public async Task<Certificate> IssueAsync(CertificateSettings settings, string? replaces, string actor, Task listening, CancellationToken cancellationToken)
    {
        var hostNames = NamesToOrder(settings);
        var client = await ConnectAsync(settings.Acme, cancellationToken);
        var issued = await ObtainAsync(client, hostNames, settings.Acme, replaces, listening, cancellationToken);
        return await InstallAsync(issued, actor, cancellationToken);
    }

    /// <summary>Checks, stores as current and serves an issued certificate.</summary>
    internal async Task<Certificate> InstallAsync(IssuedCertificate issued, string actor, CancellationToken cancellationToken)
    {
        var record = await installer.InstallAsync(issued.Certificate, issued.Chain, CertificateSource.Acme, issued.HostNames, actor, cancellationToken);
        LogIssued(string.Join(", ", issued.HostNames), record.Thumbprint, record.NotAfter);
        return record;
    }

    /// <summary>The host names a CA can issue; throws, naming the setting to change, when there is none.</summary>
    public IReadOnlyList<string> NamesToOrder(CertificateSettings settings)
    {
        foreach (var reason in settings.AcmeLeftOut)
        {
            LogLeftOut(reason);
        }

        return settings.AcmeHostNames is { Count: > 0 } names ? names
            : throw new AcmeException($"No host name can be ordered: {string.Join(" ", settings.AcmeLeftOut)} "
                + "Set Hoop:HostNames (or the host names in Console → Certificates) to the DNS names agents reach Hoop by, such as hoop.example.com.");
    }

    /// <summary>
    /// One order for <paramref name="hostNames"/>: every authorization at once, the CSR, the download. The certificate
    /// comes back with its key, neither checked, stored nor served (<see cref="CertificateInstaller"/> checks it).
    /// </summary>
    internal async Task<IssuedCertificate> ObtainAsync(AcmeClient client, IReadOnlyList<string> hostNames, AcmeOptions options, string? replaces,
        Task listening, CancellationToken cancellationToken)
    {
        AcmeOrder order;
        try
        {
            order = await client.NewOrderAsync(hostNames, replaces, cancellationToken);
        }
        catch (AcmeException e) when (replaces is not null && e.Status is >= System.Net.HttpStatusCode.BadRequest and < System.Net.HttpStatusCode.InternalServerError
            and not System.Net.HttpStatusCode.TooManyRequests)
        {
            // "replaces" (RFC 9773) is a courtesy; a CA that refuses it (alreadyReplaced, another CA's certificate) still issues without it.
            LogReplacesRefused(e.Message);
            order = await client.NewOrderAsync(hostNames, null, cancellationToken);
        }
        await AuthorizeAllAsync(client, order, options.Challenge, listening, cancellationToken);
        using var key = NewKey(out var request, hostNames, options.KeyType);
        order = await client.FinalizeAsync(await client.OrderAsync(order.Url, cancellationToken), request.CreateSigningRequest(), StepTimeout, cancellationToken);
        var pem = await client.DownloadAsync(order.Certificate!, cancellationToken);
        var chain = new X509Certificate2Collection();
        chain.ImportFromPem(pem);
        if (chain.Count == 0)
        {
            throw new AcmeException("The ACME server's certificate download holds no certificate.");
        }

        using var leaf = chain[0];
        chain.RemoveAt(0);
        var withKey = key switch
        {
            ECDsa ec => leaf.CopyWithPrivateKey(ec),
            RSA rsa => leaf.CopyWithPrivateKey(rsa),
            _ => throw new InvalidOperationException(),
        };
        // Through PKCS#12 once, so the key is usable by SslStream on every platform.
        var usable = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        withKey.Dispose();
        return new IssuedCertificate(usable, chain, hostNames);
    }

    /// <summary>
    /// Every authorization of the order at once: the CA validates them in parallel, so the order takes as long as
    /// the slowest name rather than the sum of all. The first failure stops the others and is thrown.
    /// </summary>
    internal async Task AuthorizeAllAsync(AcmeClient client, AcmeOrder order, AcmeChallengeType challengeType, Task listening, CancellationToken cancellationToken)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // A failed task's exception is what WhenAll throws; the siblings it stopped end cancelled, which WhenAll passes over.
        await Task.WhenAll(order.Authorizations.Select(async url =>
        {
            try
            {
                await AuthorizeAsync(client, url, challengeType, listening, failed.Token);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                await failed.CancelAsync();
                throw;
            }
        }));
    }

    private async Task AuthorizeAsync(AcmeClient client, Uri url, AcmeChallengeType challengeType, Task listening, CancellationToken cancellationToken)
    {
        var authorization = await client.AuthorizationAsync(url, cancellationToken);
        if (authorization.Status == "valid")
        {
            return;
        }

        var type = CertificateSettingsRules.Name(challengeType);
        var challenge = authorization.Challenges.FirstOrDefault(c => c.Type == type)
            ?? throw new AcmeException($"The ACME server offers no {type} challenge for '{authorization.Name}'.");
        var keyAuthorization = $"{challenge.Token}.{client.Thumbprint}";
        if (challengeType == AcmeChallengeType.TlsAlpn01)
        {
            challenges.AddTlsAlpn01(authorization.Name, keyAuthorization, time);
        }
        else
        {
            challenges.AddHttp01(challenge.Token, keyAuthorization);
        }

        try
        {
            await listening.WaitAsync(cancellationToken);
            var retryAfter = await client.RespondAsync(challenge, cancellationToken);
            authorization = await client.WaitAsync(authorization, retryAfter, StepTimeout, cancellationToken);
        }
        finally
        {
            challenges.RemoveHttp01(challenge.Token);
            challenges.RemoveTlsAlpn01(authorization.Name);
        }

        if (authorization.Status != "valid")
        {
            var reason = authorization.Challenges.FirstOrDefault(c => c.Type == type)?.Error ?? authorization.Status;
            throw new AcmeException($"The ACME server could not validate '{authorization.Name}' by {type}: {reason}");
        }
    }

    private static AsymmetricAlgorithm NewKey(out CertificateRequest request, IReadOnlyList<string> hostNames, CertificateKeyType keyType)
    {
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in hostNames)
        {
            san.AddDnsName(name);
        }

        var subject = new X500DistinguishedName($"CN={hostNames[0]}");
        if (keyType == CertificateKeyType.Rsa2048)
        {
            var rsa = RSA.Create(2048);
            request = new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            request.CertificateExtensions.Add(san.Build());
            return rsa;
        }

        var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        request = new CertificateRequest(subject, ec, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(san.Build());
        return ec;
    }

    [LoggerMessage(2017, LogLevel.Warning, "Left out of the ACME order: {Reason}")]
    private partial void LogLeftOut(string reason);

    [LoggerMessage(2016, LogLevel.Information, "The ACME server refused 'replaces'; ordering without it: {Error}")]
    private partial void LogReplacesRefused(string error);

    [LoggerMessage(2010, LogLevel.Information, "ACME account {AccountUrl} at {Server} ready")]
    private partial void LogAccount(string accountUrl, string server);

    [LoggerMessage(2011, LogLevel.Information, "ACME certificate for {HostNames} installed ({Thumbprint}), valid until {NotAfter:u}")]
    private partial void LogIssued(string hostNames, string thumbprint, DateTime notAfter);
}

/// <summary>A certificate the CA issued, with its private key and chain, not yet checked or stored.</summary>
internal sealed record IssuedCertificate(X509Certificate2 Certificate, X509Certificate2Collection Chain, IReadOnlyList<string> HostNames);
