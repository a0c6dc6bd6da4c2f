using System.Text.Json;
using Hoop.Tests.Support;

namespace Hoop.Tests.Proxy.Http;

/// <summary>curl as the agent, exactly as the README shows it.</summary>
public sealed class CurlAgentTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>, IDisposable
{
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task Curl_WithPinnedHoopCertificateAndToken_ReachesBackendBySubdomain()
    {
        var pem = _folder["hoop.pem"];
        await File.WriteAllTextAsync(pem, fixture.Hoop.Certificate.ExportCertificatePem());
        var token = fixture.Issuer.Token(subject: "curl-agent");

        var (exitCode, output, error) = await RunAsync("curl", "--silent", "--show-error", "--fail-with-body",
            "--cacert", pem, "-H", $"Authorization: Bearer {token}",
            $"https://billing.hoop.localhost:{fixture.Hoop.ProxyPort}/echo?from=curl");

        Assert.True(exitCode == 0, error + output);
        Assert.Equal("?from=curl", JsonDocument.Parse(output).RootElement.GetProperty("query").GetString());
        Assert.Equal($"Bearer {DataPathFixture.Canary}", fixture.Backend.Requests.Last(r => r.Path == "/echo?from=curl").Headers["Authorization"]);
    }

    [Fact]
    public async Task Curl_Plaintext_GetsNoHttpAnswer()
    {
        var (exitCode, output, _) = await RunAsync("curl", "--silent", "--max-time", "10", $"http://localhost:{fixture.Hoop.ProxyPort}/billing/echo");

        Assert.NotEqual(0, exitCode);
        Assert.DoesNotContain("HTTP", output);
    }

    private static Task<(int ExitCode, string Output, string Error)> RunAsync(string file, params string[] arguments) =>
        Processes.RunAsync(file, arguments);

    public void Dispose() => _folder.Dispose();
}
