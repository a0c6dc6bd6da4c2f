using System.Net.Http.Json;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Certificates;
using Hoop.Proxy.Certificates.Acme;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Proxy.Certificates;

/// <summary>Hoop's ACME client against a real ACME server (pebble): issue, renew, hot-swap, and the ways it fails.</summary>
public sealed class AcmePebbleTests : IDisposable
{
    private static readonly string[] Names = ["hoop.test", "agents.hoop.test"];
    private readonly TempFolder _folder = new();

    [Theory]
    [InlineData("http-01")]
    [InlineData("tls-alpn-01")]
    public async Task FirstStart_ObtainsACertificateAndServesItOnEveryPort(string challenge)
    {
        var (httpPort, proxyPort) = (Repository.FreePort(), Repository.FreePort());
        await using var pebble = await Pebble.StartAsync(httpPort, proxyPort);
        await using var hoop = await StartHoopAsync(pebble, httpPort, proxyPort, challenge);

        var installed = await WaitForAcmeCertificateAsync(hoop, pebble);

        var root = await pebble.IssuingRootAsync();
        Assert.All(Names, n => Assert.True(installed.MatchesHostname(n)));
        using var onProxy = await HoopTestHost.HandshakeAsync(hoop.ProxyPort, "hoop.test");
        using var onConsole = await HoopTestHost.HandshakeAsync(hoop.ConsolePort, "hoop.test");
        Assert.Equal(installed.Thumbprint, onProxy.Thumbprint);
        Assert.Equal(installed.Thumbprint, onConsole.Thumbprint);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ExtraStore.AddRange(hoop.Services.GetRequiredService<InboundCertificate>().Context.IntermediateCertificates.ToArray());
        Assert.True(chain.Build(onProxy), "the served certificate chains to pebble's root with the intermediates Hoop sends");

        // A first start orders while the store is created; what it got is stored once the store is ready.
        await Eventually.TrueAsync(async () => await CurrentSourceAsync(hoop) == CertificateSource.Acme, TimeSpan.FromSeconds(10));
        await using var db = await hoop.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        Assert.Equal(installed.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256),
            (await db.Certificates.SingleAsync(c => c.IsCurrent)).Thumbprint);
        var account = await db.AcmeAccounts.SingleAsync();
        Assert.Equal(pebble.DirectoryUrl.ToString(), account.DirectoryUrl);
        Assert.NotNull(account.AccountUrl);
        Assert.True(await db.AuditEvents.AnyAsync(a => a.Action == "certificate.installed" && a.Actor == "acme"));
    }

    [Fact]
    public async Task Restart_ServesTheStoredCertificate_AndKeepsTheFirstStartsAccount()
    {
        var (httpPort, proxyPort) = (Repository.FreePort(), Repository.FreePort());
        await using var pebble = await Pebble.StartAsync(httpPort, proxyPort);
        string accountUrl;
        X509Certificate2 first;
        await using (var hoop = await StartHoopAsync(pebble, httpPort, proxyPort))
        {
            first = await WaitForAcmeCertificateAsync(hoop, pebble);
            await Eventually.TrueAsync(async () => await CurrentSourceAsync(hoop) == CertificateSource.Acme, TimeSpan.FromSeconds(10));
            await using var db = await hoop.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
            accountUrl = (await db.AcmeAccounts.SingleAsync()).AccountUrl!;
        }

        await using var again = await StartHoopAsync(pebble, httpPort, proxyPort);
        Assert.Equal(first.Thumbprint, again.Services.GetRequiredService<InboundCertificate>().Certificate!.Thumbprint);
        again.Services.GetRequiredService<CertificateRenewal>().RenewNow();
        await WaitForAcmeCertificateAsync(again, pebble, notThumbprint: first.Thumbprint);
        await using var after = await again.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        Assert.Equal(accountUrl, (await after.AcmeAccounts.SingleAsync()).AccountUrl);
    }

    [Fact]
    public async Task RenewNow_SwapsTheCertificateForNewHandshakes_WhileAnOpenConnectionKeepsWorking()
    {
        var (httpPort, proxyPort) = (Repository.FreePort(), Repository.FreePort());
        await using var pebble = await Pebble.StartAsync(httpPort, proxyPort);
        await using var hoop = await StartHoopAsync(pebble, httpPort, proxyPort);
        var first = await WaitForAcmeCertificateAsync(hoop, pebble);
        // One pooled connection, kept across the swap (it is the connection that matters here, not trust).
        using var open = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 1,
            SslOptions = new() { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        }) { BaseAddress = hoop.ConsoleUrl };
        Assert.True((await open.GetAsync("/healthz")).IsSuccessStatusCode);

        hoop.Services.GetRequiredService<CertificateRenewal>().RenewNow();
        var second = await WaitForAcmeCertificateAsync(hoop, pebble, notThumbprint: first.Thumbprint);

        Assert.NotEqual(first.SerialNumber, second.SerialNumber);
        using var fresh = await HoopTestHost.HandshakeAsync(hoop.ProxyPort, "hoop.test");
        Assert.Equal(second.SerialNumber, fresh.SerialNumber);
        Assert.True((await open.GetAsync("/healthz")).IsSuccessStatusCode, "the connection opened before the swap still works");
        await using var db = await hoop.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        var history = await db.Certificates.OrderBy(c => c.CreatedAt).ToListAsync();
        Assert.Equal([CertificateSource.SelfSigned, CertificateSource.Acme, CertificateSource.Acme], history.Select(c => c.Source));
        Assert.Single(history, c => c.IsCurrent);
    }

    [Fact]
    public async Task ShortLivedCertificate_IsRenewedAtHalfItsLifetime_WithoutRestart()
    {
        // Ten-minute certificates (renewed at 1/2), on a clock running 30 times faster: minutes in seconds.
        var clock = new AcceleratedTimeProvider(30);
        var (httpPort, proxyPort) = (Repository.FreePort(), Repository.FreePort());
        await using var pebble = await Pebble.StartAsync(httpPort, proxyPort, validitySeconds: 600);
        await using var hoop = await StartHoopAsync(pebble, httpPort, proxyPort, services: s => s.AddSingleton<TimeProvider>(clock));
        var first = await WaitForAcmeCertificateAsync(hoop, pebble);
        var status = hoop.Services.GetRequiredService<CertificateStatus>();
        var due = CertificateRenewal.DueByLifetime(first.NotBefore.ToUniversalTime(), first.NotAfter.ToUniversalTime());
        await Eventually.TrueAsync(() => status.NextAttempt == due, TimeSpan.FromSeconds(30));

        var second = await WaitForAcmeCertificateAsync(hoop, pebble, notThumbprint: first.Thumbprint);
        // The new certificate is served a moment before the renewal loop notes its success.
        await Eventually.TrueAsync(() => status.LastSuccess >= due, TimeSpan.FromSeconds(10));

        Assert.InRange(status.LastSuccess!.Value, due, new DateTimeOffset(first.NotAfter.ToUniversalTime()));
        using var served = await HoopTestHost.HandshakeAsync(hoop.ProxyPort, "hoop.test");
        Assert.Equal(second.Thumbprint, served.Thumbprint);
    }

    [Fact]
    public async Task ServerRequiringExternalAccountBinding_IsRefusedWithout_AndIssuesWithIt()
    {
        var (httpPort, proxyPort) = (Repository.FreePort(), Repository.FreePort());
        await using var pebble = await Pebble.StartAsync(httpPort, proxyPort, requireEab: true);
        await using (var without = await StartHoopAsync(pebble, httpPort, proxyPort))
        {
            var status = without.Services.GetRequiredService<CertificateStatus>();
            await Eventually.TrueAsync(() => status.LastError is not null, TimeSpan.FromSeconds(30));
            Assert.Contains("External Account Binding", status.LastError);
            Assert.Equal(CertificateSource.SelfSigned, await CurrentSourceAsync(without));
        }

        var folder = new TempFolder();
        try
        {
            await using var with = await StartHoopAsync(pebble, httpPort, proxyPort, extra: new()
            {
                ["Hoop:DataFolder"] = folder.Path,
                ["Hoop:Acme:EabKeyId"] = Pebble.EabKeyId,
                ["Hoop:Acme:EabMacKey"] = Pebble.EabMacKey,
            });
            await WaitForAcmeCertificateAsync(with, pebble);
        }
        finally
        {
            folder.Dispose();
        }
    }

    [Fact]
    public async Task AcmeServerGoneMidLife_KeepsTheCurrentCertificate_AndBacksOff()
    {
        var (httpPort, proxyPort) = (Repository.FreePort(), Repository.FreePort());
        await using var pebble = await Pebble.StartAsync(httpPort, proxyPort);
        await using var hoop = await StartHoopAsync(pebble, httpPort, proxyPort);
        var issued = await WaitForAcmeCertificateAsync(hoop, pebble);
        var status = hoop.Services.GetRequiredService<CertificateStatus>();

        await pebble.StopAsync();
        hoop.Services.GetRequiredService<CertificateRenewal>().RenewNow();
        await Eventually.TrueAsync(() => status.LastError is not null, TimeSpan.FromSeconds(30));

        Assert.Contains("could not be reached", status.LastError);
        Assert.True(status.NextAttempt > DateTimeOffset.UtcNow.AddSeconds(30), $"next attempt {status.NextAttempt:o} should be backed off");
        Assert.Equal(issued.Thumbprint, hoop.Services.GetRequiredService<InboundCertificate>().Certificate!.Thumbprint);
        using var served = await HoopTestHost.HandshakeAsync(hoop.ProxyPort, "hoop.test");
        Assert.Equal(issued.Thumbprint, served.Thumbprint);
    }

    [Fact]
    public async Task ChallengeThatFails_NamesTheHostAndKeepsTheSelfSignedCertificate()
    {
        // Pebble looks for http-01 answers on a port where nothing listens.
        var (httpPort, proxyPort) = (Repository.FreePort(), Repository.FreePort());
        await using var pebble = await Pebble.StartAsync(Repository.FreePort(), proxyPort);
        await using var hoop = await StartHoopAsync(pebble, httpPort, proxyPort);
        var status = hoop.Services.GetRequiredService<CertificateStatus>();

        await Eventually.TrueAsync(() => status.LastError is not null, TimeSpan.FromSeconds(30));

        Assert.Matches("could not validate '(agents\\.)?hoop\\.test' by http-01", status.LastError);
        Assert.Equal(CertificateSource.SelfSigned, await CurrentSourceAsync(hoop));
        await using var db = await hoop.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        Assert.True(await db.AuditEvents.AnyAsync(a => a.Action == "certificate.renewal-failed"));
    }

    [Fact]
    public async Task AcmeSwitchedOnInTheAdminApi_ObtainsACertificate_AndEachHostNameChangeOrdersANewOneAtOnce()
    {
        var (httpPort, proxyPort) = (Repository.FreePort(), Repository.FreePort());
        await using var pebble = await Pebble.StartAsync(httpPort, proxyPort);
        await using var hoop = await StartHoopAsync(pebble, httpPort, proxyPort, extra: new()
        {
            ["Hoop:Acme:DirectoryUrl"] = null,
            ["Hoop:HostNames:1"] = null,
        });
        Assert.Equal(CertificateSource.SelfSigned, await CurrentSourceAsync(hoop));
        using var admin = hoop.CreateAdminClient();

        var saved = await admin.PutAsJsonAsync("/api/v1/settings/certificates",
            new { directoryUrl = pebble.DirectoryUrl.ToString(), email = "ops@hoop.test", challenge = "tls-alpn-01" });
        Assert.True(saved.IsSuccessStatusCode, await saved.Content.ReadAsStringAsync());
        var first = await WaitForAcmeCertificateAsync(hoop, pebble);
        Assert.False(first.MatchesHostname("agents.hoop.test"));

        (await admin.PutAsJsonAsync("/api/v1/settings/certificates", new { hostNames = Names })).EnsureSuccessStatusCode();
        var added = await WaitForAcmeCertificateAsync(hoop, pebble, notThumbprint: first.Thumbprint);
        Assert.True(added.MatchesHostname("agents.hoop.test"));
        using (var served = await HoopTestHost.HandshakeAsync(hoop.ProxyPort, "agents.hoop.test"))
        {
            Assert.Equal(added.SerialNumber, served.SerialNumber);
        }

        (await admin.PutAsJsonAsync("/api/v1/settings/certificates", new { hostNames = new[] { "hoop.test" } })).EnsureSuccessStatusCode();
        var removed = await WaitForAcmeCertificateAsync(hoop, pebble, notThumbprint: added.Thumbprint);
        Assert.False(removed.MatchesHostname("agents.hoop.test"));
        await using var db = await hoop.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        Assert.Equal(3, await db.AuditEvents.CountAsync(a => a.Action == "settings.certificates"));
    }

    [Fact]
    public async Task StagingCertificate_DoesNotReplaceAPubliclyTrustedOne()
    {
        // The company CA stands in for the public roots here; pebble is the staging CA.
        using var publicCa = new TestCertificateAuthority("Public Root CA");
        var (httpPort, proxyPort) = (Repository.FreePort(), Repository.FreePort());
        await using var pebble = await Pebble.StartAsync(httpPort, proxyPort);
        await using var hoop = await StartHoopAsync(pebble, httpPort, proxyPort, extra: new() { ["Hoop:Acme:DirectoryUrl"] = null },
            services: s => s.AddSingleton(new PublicRoots([publicCa.Certificate])));
        using var admin = hoop.CreateAdminClient();
        using var production = publicCa.Issue(Names);
        (await admin.PostAsJsonAsync("/api/v1/certificates", new
        {
            certificatePem = production.ExportCertificatePem(),
            privateKeyPem = production.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem(),
        })).EnsureSuccessStatusCode();
        var status = hoop.Services.GetRequiredService<CertificateStatus>();

        (await admin.PutAsJsonAsync("/api/v1/settings/certificates", new { directoryUrl = pebble.DirectoryUrl.ToString() })).EnsureSuccessStatusCode();
        await Eventually.TrueAsync(() => status.LastError is not null, TimeSpan.FromSeconds(30));

        Assert.Contains("not publicly trusted", status.LastError);
        using var served = await HoopTestHost.HandshakeAsync(hoop.ProxyPort, "hoop.test");
        Assert.Equal(production.Thumbprint, served.Thumbprint);
        Assert.Equal(CertificateSource.Uploaded, await CurrentSourceAsync(hoop));
    }

    [Theory]
    [InlineData("environment")]
    [InlineData("command line")]
    public async Task HostNameGivenAsInTheDockerExample_ReplacesTheDefaults_AndIsAllThatIsOrdered(string form)
    {
        // The README's Let's Encrypt example, run as the real process reading the appsettings.json beside it.
        var (httpPort, proxyPort) = (Repository.FreePort(), Repository.FreePort());
        await using var pebble = await Pebble.StartAsync(httpPort, proxyPort);
        var environment = new Dictionary<string, string>
        {
            ["Hoop__DataFolder"] = _folder.Path,
            ["Hoop__ConsoleUrl"] = $"https://localhost:{Repository.FreePort()}",
            ["Hoop__ProxyPort"] = Port(proxyPort),
            ["Hoop__PostgresPort"] = Port(Repository.FreePort()),
            ["Hoop__AcmeHttpPort"] = Port(httpPort),
            ["HOOP_ADMIN_PASSWORD"] = HoopTestHost.AdminPassword,
            ["Hoop__Acme__DirectoryUrl"] = pebble.DirectoryUrl.ToString(),
            ["Hoop__Acme__Email"] = "ops@example.com",
            ["Hoop__Acme__TrustedRootsFile"] = pebble.TrustedRootsFile,
        };
        string[] arguments = [];
        if (form == "environment")
        {
            environment["Hoop__HostNames__0"] = "hoop.example.com";
        }
        else
        {
            arguments = ["--Hoop:HostNames:0=hoop.example.com"];
        }

        await using var hoop = HoopProcess.Start(environment, arguments);
        var served = await WaitForServedPebbleCertificateAsync(proxyPort, "hoop.example.com", pebble, hoop);

        Assert.Equal(["hoop.example.com"], DnsNames(served));
    }

    [Fact]
    public async Task NamesNoCaIssues_AreLeftOutOfTheOrder_AndTheSettingsSayWhy()
    {
        var (httpPort, proxyPort) = (Repository.FreePort(), Repository.FreePort());
        await using var pebble = await Pebble.StartAsync(httpPort, proxyPort);
        await using var hoop = await StartHoopAsync(pebble, httpPort, proxyPort, extra: new()
        {
            ["Hoop:HostNames:0"] = "hoop.example.com",
            ["Hoop:HostNames:1"] = "localhost",
            ["Hoop:HostNames:2"] = "agents.localhost",
            ["Hoop:HostNames:3"] = "10.1.2.3",
            ["Hoop:HostNames:4"] = "intranet",
            ["Hoop:HostNames:5"] = "hoop.test",
            ["Hoop:Acme:AllowReservedNames"] = null,
        });

        var issued = await WaitForAcmeCertificateAsync(hoop, pebble);

        Assert.Equal(["hoop.example.com"], DnsNames(issued));
        using var admin = hoop.CreateAdminClient();
        var view = await admin.GetFromJsonAsync<JsonElement>("/api/v1/settings/certificates");
        var leftOut = view.GetProperty("acmeLeftOut").EnumerateArray().Select(r => r.GetString()!).ToList();
        Assert.Collection(leftOut,
            r => Assert.StartsWith("'localhost' is a loopback name", r),
            r => Assert.StartsWith("'agents.localhost' is a loopback name", r),
            r => Assert.StartsWith("'10.1.2.3' is an IP address", r),
            r => Assert.StartsWith("'intranet' is a single label", r),
            r => Assert.Contains("Hoop:Acme:AllowReservedNames=true", r));
        Assert.Equal(["hoop.example.com", "localhost", "agents.localhost", "10.1.2.3", "intranet", "hoop.test"],
            view.GetProperty("hostNames").EnumerateArray().Select(n => n.GetString()));
    }

    private static string Port(int port) => port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static List<string> DnsNames(X509Certificate2 certificate) =>
        [.. certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateDnsNames()];

    /// <summary>Handshakes with the port until it presents a certificate pebble issued, or fails with both sides' output.</summary>
    private static async Task<X509Certificate2> WaitForServedPebbleCertificateAsync(int port, string name, Pebble pebble, HoopProcess hoop)
    {
        for (var i = 0; i < 600 && !hoop.HasExited; i++)
        {
            try
            {
                var served = await HoopTestHost.HandshakeAsync(port, name);
                if (served.Issuer.Contains("Pebble", StringComparison.Ordinal))
                {
                    return served;
                }
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or AuthenticationException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        throw new Xunit.Sdk.XunitException($"No certificate from pebble on port {port}.\nHoop:\n{hoop.Output()}\nPebble:\n{pebble.Output()}");
    }

    private static async Task<CertificateSource> CurrentSourceAsync(HoopTestHost hoop)
    {
        await using var db = await hoop.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        return (await db.Certificates.SingleAsync(c => c.IsCurrent)).Source;
    }


    private async Task<HoopTestHost> StartHoopAsync(Pebble pebble, int httpPort, int proxyPort, string challenge = "http-01",
        Dictionary<string, string?>? extra = null, Action<IServiceCollection>? services = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Hoop:HostNames:0"] = Names[0],
            ["Hoop:HostNames:1"] = Names[1],
            ["Hoop:ProxyPort"] = proxyPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Hoop:AcmeHttpPort"] = httpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Hoop:Acme:DirectoryUrl"] = pebble.DirectoryUrl.ToString(),
            ["Hoop:Acme:Email"] = "ops@hoop.test",
            ["Hoop:Acme:Challenge"] = challenge,
            ["Hoop:Acme:TrustedRootsFile"] = pebble.TrustedRootsFile,
            // hoop.test: pebble issues names under .test, as public CAs do not.
            ["Hoop:Acme:AllowReservedNames"] = "true",
        };
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        return await HoopTestHost.StartAsync(settings.TryGetValue("Hoop:DataFolder", out var folder) ? folder! : _folder.Path, settings, services);
    }

    /// <summary>Waits for the inbound certificate to become one pebble issued, or fails with what went wrong.</summary>
    private static async Task<X509Certificate2> WaitForAcmeCertificateAsync(HoopTestHost hoop, Pebble pebble, string? notThumbprint = null)
    {
        var inbound = hoop.Services.GetRequiredService<InboundCertificate>();
        var status = hoop.Services.GetRequiredService<CertificateStatus>();
        for (var i = 0; i < 300; i++)
        {
            if (inbound.Certificate is { } c && c.Issuer.Contains("Pebble", StringComparison.Ordinal) && c.Thumbprint != notThumbprint)
            {
                return c;
            }

            await Task.Delay(100);
        }

        throw new Xunit.Sdk.XunitException($"No certificate from pebble; last error: {status.LastError}\n{pebble.Output()}");
    }

    public void Dispose() => _folder.Dispose();
}
