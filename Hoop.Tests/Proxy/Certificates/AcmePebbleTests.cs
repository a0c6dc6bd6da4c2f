using System.Security.Cryptography.X509Certificates;
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
        await using var db = await hoop.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>().CreateDbContextAsync();
        Assert.Equal(CertificateSource.Acme, (await db.Certificates.SingleAsync(c => c.IsCurrent)).Source);
    }

    private async Task<HoopTestHost> StartHoopAsync(Pebble pebble, int httpPort, int proxyPort, string challenge = "http-01",
        Dictionary<string, string?>? extra = null)
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
        };
        foreach (var (key, value) in extra ?? [])
        {
            settings[key] = value;
        }

        return await HoopTestHost.StartAsync(_folder.Path, settings);
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
