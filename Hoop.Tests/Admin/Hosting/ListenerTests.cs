using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Hoop.Tests.Support;
using Microsoft.Data.Sqlite;

namespace Hoop.Tests.Admin.Hosting;

public sealed class ListenerTests : IDisposable
{
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task FirstStart_ServesSelfSignedCertificateOnEveryPort_AndTheSameOneAfterRestart()
    {
        string thumbprint;
        await using (var first = await HoopTestHost.StartAsync(_folder.Path))
        {
            var proxy = await HoopTestHost.HandshakeAsync(first.ProxyPort);
            var console = await HoopTestHost.HandshakeAsync(first.ConsolePort);
            thumbprint = proxy.GetCertHashString(HashAlgorithmName.SHA256);

            Assert.Equal(thumbprint, console.GetCertHashString(HashAlgorithmName.SHA256));
            Assert.Equal(proxy.Subject, proxy.Issuer);
            Assert.True(proxy.MatchesHostname("localhost"));
            Assert.True(proxy.MatchesHostname("billing.hoop.localhost"));
        }

        await using var second = await HoopTestHost.StartAsync(_folder.Path);
        var again = await HoopTestHost.HandshakeAsync(second.ProxyPort);
        Assert.Equal(thumbprint, again.GetCertHashString(HashAlgorithmName.SHA256));
    }

    [Fact]
    public async Task ConfiguredHostNameAdded_SelfSignedCertificateIsReplacedToCoverIt()
    {
        await (await HoopTestHost.StartAsync(_folder.Path)).DisposeAsync();

        await using var host = await HoopTestHost.StartAsync(_folder.Path, new Dictionary<string, string?>
        {
            ["Hoop:HostNames:0"] = "localhost",
            ["Hoop:HostNames:1"] = "hoop.test",
        });

        var certificate = await HoopTestHost.HandshakeAsync(host.ProxyPort);
        Assert.True(certificate.MatchesHostname("hoop.test"));
        Assert.True(certificate.MatchesHostname("api.hoop.test"));
    }

    [Fact]
    public async Task ProxyPort_PlaintextHttp_GetsNoHttpAnswer()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, host.ProxyPort);
        var stream = tcp.GetStream();
        await stream.WriteAsync("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray());

        var buffer = new byte[1024];
        var read = 0;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            read = await stream.ReadAsync(buffer, timeout.Token);
        }
        catch (IOException)
        {
            // Reset by the server: also no answer.
        }

        Assert.DoesNotContain("HTTP/", Encoding.ASCII.GetString(buffer, 0, read));
    }

    [Fact]
    public async Task ProxyPort_ConsoleRoutes_AreNotReachable()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        using var proxy = host.CreateClient(host.ProxyUrl);

        foreach (var path in new[] { "/login", "/readyz", "/certificate.pem", "/" })
        {
            var response = await proxy.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task ConsolePort_HealthAndReadiness_Are200()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        using var console = host.CreateClient(host.ConsoleUrl);

        Assert.Equal("Healthy", await console.GetStringAsync("/healthz"));
        Assert.Equal("Healthy", await console.GetStringAsync("/readyz"));
    }

    [Fact]
    public async Task CertificatePem_IsThePublicCertificateServed()
    {
        await using var host = await HoopTestHost.StartAsync(_folder.Path);
        using var console = host.CreateClient(host.ConsoleUrl);

        var pem = await console.GetStringAsync("/certificate.pem");

        Assert.DoesNotContain("PRIVATE KEY", pem);
        using var downloaded = X509Certificate2.CreateFromPem(pem);
        Assert.Equal(host.Certificate.Thumbprint, downloaded.Thumbprint);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _folder.Dispose();
    }
}
