using Hoop.Admin.Hosting.Settings;

namespace Hoop.Admin.Cli;

/// <summary>
/// `Hoop.Admin healthcheck`: asks the running instance's /healthz over loopback and exits 0 when it answers 200.
/// The container image has no curl; this is its HEALTHCHECK.
/// </summary>
internal static class HealthCheckCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter error)
    {
        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args)
            .Build();
        var settings = HoopSettings.Read<HoopOptions>(configuration);
        using var handler = new SocketsHttpHandler
        {
            // Loopback to itself: the certificate may be self-signed or issued for a public name.
            SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
        };
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await client.GetAsync(new Uri($"https://127.0.0.1:{settings.ConsolePort}/healthz"));
            if (response.IsSuccessStatusCode)
            {
                return 0;
            }

            await error.WriteLineAsync($"hoop: /healthz answered {(int)response.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            await error.WriteLineAsync($"hoop: /healthz did not answer: {e.Message}");
        }

        return 1;
    }
}
