using System.Net;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

/// <summary>The listeners: addresses, ports, and no two listeners on one port.</summary>
internal sealed class HoopOptionsValidator : IValidateOptions<HoopOptions>
{
    public ValidateOptionsResult Validate(string? name, HoopOptions options)
    {
        var problems = new SettingProblems(HoopOptions.Section);
        if (!Uri.TryCreate(options.ConsoleUrl.Trim(), UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttps
            || url.AbsolutePath != "/" || !string.IsNullOrEmpty(url.Query))
        {
            problems.Add("ConsoleUrl", $"'{options.ConsoleUrl}' is not an https URL of a host and port, such as https://hoop.example.com:7443. The console is served over TLS only.");
        }

        if (!IPAddress.TryParse(options.BindAddress, out _))
        {
            problems.Add("BindAddress", $"'{options.BindAddress}' is not an IP address. Use 127.0.0.1 for this machine only, or 0.0.0.0 (or ::) for every interface.");
        }

        problems.Port("ProxyPort", options.ProxyPort);
        problems.Port("PostgresPort", options.PostgresPort);
        problems.Port("AcmeHttpPort", options.AcmeHttpPort);
        if (problems.None && url is not null)
        {
            (string Name, int Port)[] ports =
            [
                ("Hoop:ConsoleUrl", url.Port), ("Hoop:ProxyPort", options.ProxyPort),
                ("Hoop:PostgresPort", options.PostgresPort), ("Hoop:AcmeHttpPort", options.AcmeHttpPort),
            ];
            if (ports.Where(p => p.Port != 0).GroupBy(p => p.Port).FirstOrDefault(g => g.Count() > 1) is { } clash)
            {
                problems.AddWhole($"{string.Join(" and ", clash.Select(p => p.Name))} both use port {clash.Key}. Give each listener its own port.");
            }
        }

        return problems.Result;
    }
}
