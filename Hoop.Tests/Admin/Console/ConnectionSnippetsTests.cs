using System.Text.RegularExpressions;
using Hoop.Admin.Console;
using Hoop.Admin.Hosting;
using Hoop.Data.Entities;
using Hoop.Proxy.Certificates;
using Hoop.Proxy.Policy;
using Hoop.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Admin.Console;

/// <summary>The snippets a connection's page shows work as they are: each is run with the real client.</summary>
public sealed partial class ConnectionSnippetsTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>, IDisposable
{
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task HttpSnippets_CurlAndBaseUrl_VerifyTlsAndReachTheBackend()
    {
        var snippets = Snippets("billing", ConnectionKind.Http);
        Assert.DoesNotContain("kubectl config", snippets.Keys); // A plain HTTP API gets no kubeconfig.

        var curl = await RunAsync(snippets["curl"].Replace("/billing/", "/billing/echo", StringComparison.Ordinal) + " -sS --fail");
        var baseUrl = BaseUrl().Match(snippets["SDK base URL"]).Value;
        var named = await RunAsync($"curl --cacert certificate.pem -sS --fail -H \"Authorization: Bearer $HOOP_TOKEN\" {baseUrl}echo");

        Assert.True(curl.ExitCode == 0, curl.Error);
        Assert.Contains("\"path\":\"/echo\"", curl.Output);
        Assert.True(named.ExitCode == 0, $"{baseUrl}: {named.Error}");
        Assert.Contains("\"path\":\"/echo\"", named.Output);
        Assert.StartsWith("https://billing.hoop.localhost:", baseUrl); // localhost has no wildcard: never billing.localhost
    }

    [Fact]
    public async Task PostgresSnippet_PsqlVerifiesTlsAndRunsAQuery()
    {
        var snippets = Snippets("ledger", ConnectionKind.Postgres);
        var uri = snippets.Single(s => s.Key.StartsWith("Connection URI", StringComparison.Ordinal)).Value;

        var run = await RunAsync($"{snippets["psql"]} -tAc 'SELECT count(*) FROM customers'");
        var byUri = await RunAsync($"PGPASSWORD=\"$HOOP_TOKEN\" psql '{uri}' -tAc 'SELECT count(*) FROM customers'");

        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Equal("2", run.Output.Trim());
        Assert.True(byUri.ExitCode == 0, byUri.Error);
        Assert.Equal("2", byUri.Output.Trim());
        Assert.DoesNotContain("curl", snippets.Keys);
    }

    [Theory]
    [InlineData("https://kube.internal/", true)]
    [InlineData("https://10.0.0.5:6443/", true)]
    [InlineData("https://api.example.com/", false)]
    public void Kubeconfig_OnlyForWhatLooksLikeAKubernetesApiServer(string address, bool expected) =>
        Assert.Equal(expected, ConnectionSnippets.LooksLikeKubernetes(address));

    private Dictionary<string, string> Snippets(string connection, ConnectionKind kind)
    {
        var services = fixture.Hoop.Services;
        var listeners = services.GetRequiredService<Listeners>();
        return ConnectionSnippets.For(connection, kind, "https://api.example.com/", services.GetRequiredService<InboundCertificate>().Certificate,
                services.GetRequiredService<PolicyStore>().Current.Certificates.HostNames, listeners.PortOf(ListenerKind.Proxy), listeners.PortOf(ListenerKind.Postgres))
            .ToDictionary(s => s.Title, s => s.Text);
    }

    /// <summary>Runs a snippet in a folder holding certificate.pem, with the agent's token in $HOOP_TOKEN.</summary>
    private async Task<(int ExitCode, string Output, string Error)> RunAsync(string command)
    {
        await File.WriteAllTextAsync(Path.Combine(_folder.Path, "certificate.pem"), fixture.Hoop.Certificate.ExportCertificatePem());
        return await Processes.RunAsync("bash", ["-c", $"cd '{_folder.Path}' && {command}"],
            new Dictionary<string, string> { ["HOOP_TOKEN"] = fixture.Issuer.Token(subject: "snippet", groups: [DataPathFixture.Group, PostgresFixture.PgGroup]) });
    }

    [GeneratedRegex(@"https://\S+/")]
    private static partial Regex BaseUrl();

    public void Dispose() => _folder.Dispose();
}
