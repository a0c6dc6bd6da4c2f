using Hoop.Admin.Hosting;
using Hoop.Admin.Hosting.Settings;
using Hoop.Data.Store;
using Hoop.Proxy.Model;
using Hoop.Tests.Support;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Tests.Admin.Hosting;

public sealed class HoopSettingsTests : IDisposable
{
    private readonly TempFolder _folder = new();

    [Fact]
    public void Read_NoConfiguration_UsesDocumentedDefaults()
    {
        var empty = new ConfigurationBuilder().Build();
        var settings = HoopSettings.Read<HoopOptions>(empty);
        var store = HoopSettings.Read<StoreOptions>(empty);

        Assert.Equal(7443, settings.ConsolePort);
        Assert.Equal(8443, settings.ProxyPort);
        Assert.Equal(15432, settings.PostgresPort);
        Assert.Equal(8080, settings.AcmeHttpPort);
        Assert.Equal(["localhost", "hoop.localhost"], HostNames(empty));
        Assert.Equal("127.0.0.1", settings.BindIPAddress.ToString());
        Assert.Equal(Path.GetFullPath("data"), store.DataFolder);
        Assert.Equal(Path.Combine(Path.GetFullPath("data"), "master.key"), store.MasterKeyFile);
    }

    [Theory]
    [InlineData("Hoop:ProxyPort", "abc", "Hoop:ProxyPort: 'abc' is not a port number")]
    [InlineData("Hoop:PostgresPort", "70000", "Hoop:PostgresPort: '70000' is not a port number")]
    [InlineData("Hoop:AcmeHttpPort", "-1", "Hoop:AcmeHttpPort: '-1' is not a port number")]
    [InlineData("Hoop:ConsoleUrl", "http://localhost:7443", "Hoop:ConsoleUrl: 'http://localhost:7443' is not an https URL")]
    [InlineData("Hoop:BindAddress", "everywhere", "Hoop:BindAddress: 'everywhere' is not an IP address")]
    [InlineData("Hoop:HostNames:0", "bad name!", "Hoop:HostNames: 'bad name!' is not a host name")]
    [InlineData("Hoop:LogQueueCapacity", "5", "Hoop:LogQueueCapacity: '5' is not a whole number from 100")]
    [InlineData("Hoop:LogQueueCapacity", "many", "Hoop:LogQueueCapacity: 'many' is not a whole number.")]
    [InlineData("Hoop:Recording:Mode", "Sometimes", "Hoop:Recording:Mode: 'Sometimes' is not a recording mode. Use Required")]
    [InlineData("Hoop:Recording:Mode", "99", "Hoop:Recording:Mode: '99' is not a recording mode. Use Required")]
    [InlineData("Hoop:Recording:MaxRows", "5000", "Hoop:Recording:MaxRows: '5000' is not a whole number from 0 to 1000.")]
    [InlineData("Hoop:Masking:OverLimit", "Ignore", "Hoop:Masking:OverLimit: 'Ignore' is not a choice. Use Block")]
    [InlineData("Hoop:Reviews:Webhook", "slack", "Hoop:Reviews:Webhook: 'slack' is not an http(s) URL.")]
    [InlineData("Hoop:Limits:PasswordChecks", "0", "Hoop:Limits:PasswordChecks: '0' is not a whole number from 1 to 64.")]
    [InlineData("Hoop:Acme:Challenge", "dns-01", "Hoop:Acme:Challenge: 'dns-01' is not supported. Use http-01")]
    [InlineData("Hoop:Identity:Issuers:0:Authority", "ftp://idp", "Hoop:Identity:Issuers:0:Authority: 'ftp://idp' is not an https URL.")]
    public void Read_InvalidValue_NamesTheSettingAndTheFix(string key, string value, string expected)
    {
        var error = Problem(Configuration((key, value)));

        Assert.StartsWith(expected, error.Message);
    }

    [Fact]
    public void Read_TwoListenersOnOnePort_NamesBoth()
    {
        var error = Problem(Configuration(("Hoop:ProxyPort", "7443")));

        Assert.Equal("Hoop:ConsoleUrl and Hoop:ProxyPort both use port 7443. Give each listener its own port.", error.Message);
    }

    [Fact]
    public void Build_DataFolderThatCannotBeCreated_NamesTheSetting()
    {
        File.WriteAllText(_folder["a-file"], "");

        var error = Assert.Throws<StartupException>(() => HoopTestHost.Build(Path.Combine(_folder["a-file"], "data")));

        Assert.StartsWith($"Hoop:DataFolder '{Path.Combine(_folder["a-file"], "data")}' cannot be used", error.Message);
    }

    [Fact]
    public async Task RunAsync_InvalidSetting_PrintsOneMessageWithoutStackTraceAndExits2()
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var exitCode = await HoopHost.RunAsync(
            [$"--Hoop:DataFolder={_folder.Path}", "--Hoop:ProxyPort=abc"], output, error);

        Assert.Equal(2, exitCode);
        var message = error.ToString();
        Assert.StartsWith("hoop: cannot start: Hoop:ProxyPort: 'abc' is not a port number.", message);
        Assert.DoesNotContain("   at ", message);
        Assert.Empty(Directory.GetFiles(_folder.Path));
    }

    [Fact]
    public async Task RunAsync_ProxyPortInUse_NamesTheSettingInOneMessageAndExits2()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var error = new StringWriter();

        var exitCode = await HoopHost.RunAsync(
            [$"--Hoop:DataFolder={_folder.Path}", "--Hoop:ConsoleUrl=https://localhost:0", $"--Hoop:ProxyPort={port}", "--Hoop:PostgresPort=0",
                "--Hoop:AcmeHttpPort=0", "--HOOP_ADMIN_PASSWORD=port-in-use-test"], new StringWriter(), error);

        Assert.Equal(2, exitCode);
        Assert.Equal($"hoop: cannot start: Hoop:ProxyPort: port {port} is in use by another process. Stop that process or choose another port.",
            error.ToString().Trim());
    }

    [Theory]
    [InlineData("--Hoop:HostNames:0=hoop.example.com")]
    [InlineData("--Hoop:HostNames=hoop.example.com")]
    public void Read_HostNamesOnTheCommandLine_ReplaceTheListInAppsettings(string argument)
    {
        // appsettings.json as shipped, then the command line: lists from two sources would merge by index.
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(Repository.Root, "appsettings.json"))
            .AddCommandLine([argument])
            .Build();

        Assert.Equal(["hoop.example.com"], HostNames(configuration));
    }

    [Fact]
    public void Read_HostNamesInTheLastSourceThatGivesThem_AreTheWholeList()
    {
        File.WriteAllText(_folder["site.json"], """{"Hoop":{"HostNames":["a.example.com","b.example.com","c.example.com"]}}""");
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(_folder["site.json"])
            .AddInMemoryCollection([new("Hoop:HostNames:0", "hoop.example.com"), new("Hoop:HostNames:1", "Agents.Example.com ")])
            .AddCommandLine(["--Hoop:ProxyPort=9443"])
            .Build();

        Assert.Equal(["hoop.example.com", "agents.example.com"], HostNames(configuration));
    }

    [Fact]
    public void Read_HostNamesCommaSeparated_AreAList()
    {
        Assert.Equal(["hoop.example.com", "agents.example.com"], HostNames(Configuration(("Hoop:HostNames", "hoop.example.com, agents.example.com,"))));
    }

    [Fact]
    public void Read_AcmeAllowReservedNames_IsAFlag()
    {
        Assert.False(HoopSettings.Read<AcmeOptions>(Configuration()).AllowReservedNames);
        Assert.True(HoopSettings.Read<AcmeOptions>(Configuration(("Hoop:Acme:AllowReservedNames", "true"))).AllowReservedNames);
        var error = Problem(Configuration(("Hoop:Acme:AllowReservedNames", "yes")));
        Assert.Equal("Hoop:Acme:AllowReservedNames: 'yes' is neither true nor false.", error.Message);
    }

    private static IReadOnlyList<string> HostNames(IConfiguration configuration) => HoopSettings.Read<HostNameOptions>(configuration).Names;

    /// <summary>What start-up says about these settings, checked as the host checks them.</summary>
    private static StartupException Problem(IConfiguration configuration)
    {
        using var services = new ServiceCollection().AddSingleton(configuration).AddHoopSettings().BuildServiceProvider();
        return Assert.Throws<StartupException>(() => HoopSettings.Check(services));
    }

    private static IConfiguration Configuration(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build();

    public void Dispose() => _folder.Dispose();
}
