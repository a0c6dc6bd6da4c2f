using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Hoop.Tests.Support;

/// <summary>
/// Debian's pebble (Let's Encrypt's ACME test server) with its own TLS certificate from a test CA, and
/// pebble-challtestsrv as its DNS server, which answers every name with 127.0.0.1: so "hoop.test" reaches Hoop's
/// challenge listeners on loopback. Validation runs at full speed (PEBBLE_VA_NOSLEEP); pebble's default share of
/// rejected nonces stays on, so every test goes through the badNonce retry.
/// </summary>
public sealed class Pebble : IAsyncDisposable
{
    public const string EabKeyId = "kid-hoop";
    public const string EabMacKey = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";

    private readonly List<Process> _processes = [];
    private readonly TempFolder _folder = new();
    private readonly TestCertificateAuthority _ca = new("Pebble's TLS CA");

    private Pebble(int port, int managementPort)
    {
        DirectoryUrl = new Uri($"https://127.0.0.1:{port}/dir");
        ManagementUrl = new Uri($"https://127.0.0.1:{managementPort}/");
        TrustedRootsFile = Path.Combine(_folder.Path, "pebble-tls-ca.pem");
        File.WriteAllText(TrustedRootsFile, _ca.Pem);
    }

    public Uri DirectoryUrl { get; }
    public Uri ManagementUrl { get; }

    /// <summary>The CA of pebble's own TLS certificate, for Hoop:Acme:TrustedRootsFile.</summary>
    public string TrustedRootsFile { get; }

    /// <param name="httpPort">Where pebble looks for http-01 answers.</param>
    /// <param name="tlsPort">Where pebble looks for tls-alpn-01 answers.</param>
    /// <param name="requireEab">Whether new accounts need External Account Binding (key <see cref="EabKeyId"/>).</param>
    /// <param name="validitySeconds">How long the certificates it issues live (pebble's default is five years).</param>
    public static async Task<Pebble> StartAsync(int httpPort, int tlsPort, bool requireEab = false, int? validitySeconds = null)
    {
        var pebble = new Pebble(Repository.FreePort(), Repository.FreePort());
        try
        {
            await pebble.StartProcessesAsync(httpPort, tlsPort, requireEab, validitySeconds);
            return pebble;
        }
        catch
        {
            await pebble.DisposeAsync();
            throw;
        }
    }

    /// <summary>The root that signs the certificates pebble issues (a new one each run).</summary>
    public async Task<X509Certificate2> IssuingRootAsync()
    {
        using var http = Client();
        var pem = await http.GetStringAsync(new Uri(ManagementUrl, "roots/0"));
        return X509Certificate2.CreateFromPem(pem);
    }

    /// <summary>Stops pebble (the ACME server goes away mid-life, as in an outage).</summary>
    public async Task StopAsync()
    {
        foreach (var process in _processes.Where(p => !p.HasExited))
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private async Task StartProcessesAsync(int httpPort, int tlsPort, bool requireEab, int? validitySeconds)
    {
        var dnsPort = Repository.FreePort();
        var dns = Start("pebble-challtestsrv", null,
            "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", $"127.0.0.1:{dnsPort}",
            "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", $"127.0.0.1:{Repository.FreePort()}");

        using var tls = _ca.Issue(["localhost", "127.0.0.1"]);
        var certificateFile = Path.Combine(_folder.Path, "cert.pem");
        var keyFile = Path.Combine(_folder.Path, "key.pem");
        await File.WriteAllTextAsync(certificateFile, tls.ExportCertificatePem());
        await File.WriteAllTextAsync(keyFile, tls.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
        var config = new
        {
            pebble = new Dictionary<string, object>
            {
                ["listenAddress"] = $"127.0.0.1:{DirectoryUrl.Port}",
                ["managementListenAddress"] = $"127.0.0.1:{ManagementUrl.Port}",
                ["certificate"] = certificateFile,
                ["privateKey"] = keyFile,
                ["httpPort"] = httpPort,
                ["tlsPort"] = tlsPort,
                ["ocspResponderURL"] = "",
                ["externalAccountBindingRequired"] = requireEab,
                ["externalAccountMACKeys"] = new Dictionary<string, string> { [EabKeyId] = EabMacKey },
                ["certificateValidityPeriod"] = validitySeconds ?? 157_766_400,
            },
        };
        var configFile = Path.Combine(_folder.Path, "pebble.json");
        await File.WriteAllTextAsync(configFile, JsonSerializer.Serialize(config));
        var pebble = Start("pebble", new Dictionary<string, string> { ["PEBBLE_VA_NOSLEEP"] = "1" },
            "-config", configFile, "-dnsserver", $"127.0.0.1:{dnsPort}");

        using var http = Client();
        for (var i = 0; i < 100; i++)
        {
            if (pebble.HasExited || dns.HasExited)
            {
                break;
            }

            try
            {
                if ((await http.GetAsync(DirectoryUrl)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException("pebble did not start: " + Output());
    }

    private Process Start(string program, Dictionary<string, string>? environment, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? [])
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start; run ./test.sh to install pebble.");
        process.OutputDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (_output) { _output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        return process;
    }

    private readonly StringBuilder _output = new();

    /// <summary>What pebble printed: its validation attempts, for a failing test's message.</summary>
    public string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }

    private HttpClient Client() => new(new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            // Pebble's management port serves the same certificate as its ACME port.
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && new X509Certificate2(certificate).Issuer == _ca.Certificate.Subject,
        },
    });

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        foreach (var process in _processes)
        {
            process.Dispose();
        }

        _ca.Dispose();
        _folder.Dispose();
    }
}
