using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Hoop.Admin.Hosting;
using Hoop.Proxy.Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Support;

/// <summary>
/// The real Hoop host, in this process, on real Kestrel sockets on loopback (every port chosen by the system).
/// </summary>
public sealed class HoopTestHost : IAsyncDisposable
{
    public const string AdminPassword = "correct horse battery staple";

    private HoopTestHost(WebApplication app, string dataFolder, StringWriter notices)
    {
        App = app;
        DataFolder = dataFolder;
        Notices = notices;
    }

    public WebApplication App { get; }
    public string DataFolder { get; }

    /// <summary>What the host printed for the operator (the generated admin password).</summary>
    public StringWriter Notices { get; }

    public IServiceProvider Services => App.Services;
    public int ConsolePort => Services.GetRequiredService<Listeners>().PortOf(ListenerKind.Console);
    public int ProxyPort => Services.GetRequiredService<Listeners>().PortOf(ListenerKind.Proxy);
    public Uri ConsoleUrl => new($"https://localhost:{ConsolePort}/");
    public Uri ProxyUrl => new($"https://localhost:{ProxyPort}/");
    public X509Certificate2 Certificate => Services.GetRequiredService<InboundCertificate>().Certificate!;

    /// <summary>Settings every test host gets; <paramref name="settings"/> override them (a null value removes one).</summary>
    public static WebApplication Build(string dataFolder, IDictionary<string, string?>? settings = null, StringWriter? notices = null,
        Action<IServiceCollection>? services = null)
    {
        var values = new Dictionary<string, string?>
        {
            ["Hoop:DataFolder"] = dataFolder,
            ["Hoop:ConsoleUrl"] = "https://localhost:0",
            ["Hoop:ProxyPort"] = "0",
            ["Hoop:PostgresPort"] = "0",
            ["Hoop:AcmeHttpPort"] = "0",
            ["HOOP_ADMIN_PASSWORD"] = AdminPassword,
            ["Serilog:MinimumLevel:Default"] = "Warning",
            // The admin API's request lines, as in production (tests look for them).
            ["Serilog:MinimumLevel:Override:Serilog.AspNetCore.RequestLoggingMiddleware"] = "Information",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        return HoopHost.Build([], notices ?? new StringWriter(), c => c.AddInMemoryCollection(values), services);
    }

    public static async Task<HoopTestHost> StartAsync(string dataFolder, IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null)
    {
        var notices = new StringWriter();
        var app = Build(dataFolder, settings, notices, services);
        await app.StartAsync();
        return new HoopTestHost(app, dataFolder, notices);
    }

    /// <summary>An HTTP client that trusts only the certificate Hoop serves, verified as a real client would.</summary>
    public HttpClient CreateClient(Uri baseAddress, bool allowRedirects = false, System.Net.CookieContainer? cookies = null)
    {
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = allowRedirects,
            UseCookies = cookies is not null,
            CookieContainer = cookies ?? new System.Net.CookieContainer(),
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = TrustOnly(Certificate) },
        };
        return new HttpClient(handler) { BaseAddress = baseAddress };
    }

    /// <summary>
    /// The break-glass admin over Basic on the admin API. It trusts the certificate Hoop serves at each handshake
    /// (by thumbprint, whatever its names), so it keeps working while tests change that certificate.
    /// </summary>
    public HttpClient CreateAdminClient()
    {
        var inbound = Services.GetRequiredService<InboundCertificate>();
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) => certificate?.GetCertHashString() == inbound.Certificate?.Thumbprint,
            },
        };
        var client = new HttpClient(handler) { BaseAddress = ConsoleUrl };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"admin:{AdminPassword}")));
        return client;
    }

    /// <summary>Validates the server's chain against <paramref name="root"/> alone, host name included.</summary>
    public static RemoteCertificateValidationCallback TrustOnly(X509Certificate2 root) => (_, certificate, _, errors) =>
    {
        if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(new X509Certificate2(certificate));
    };

    /// <summary>Completes a TLS handshake with a port and returns the certificate it presented.</summary>
    public static async Task<X509Certificate2> HandshakeAsync(int port, string host = "localhost")
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await tls.AuthenticateAsClientAsync(host);
        return new X509Certificate2(tls.RemoteCertificate!);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
