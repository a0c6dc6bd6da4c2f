using Hoop.Proxy.Model;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

/// <summary>
/// Hoop:HostNames, the names agents reach Hoop by. Not bound like the other settings: the list is taken whole from
/// the last configuration source that gives any (appsettings.json, then the environment, then the command line),
/// since lists from several sources would merge by index and keep the defaults' tail (hoop.example.com,
/// hoop.localhost). A source gives them as a list (Hoop:HostNames:0, :1...) or as one comma-separated value.
/// None anywhere: this machine's names.
/// </summary>
public sealed class HostNameOptions
{
    private const string Key = "Hoop:HostNames";

    public IReadOnlyList<string> Names { get; private set; } = ["localhost", "hoop.localhost"];

    public static void Read(HostNameOptions options, IConfiguration configuration)
    {
        IEnumerable<IEnumerable<string?>> sources = configuration is IConfigurationRoot root
            ? root.Providers.Reverse().Select(NamesIn)
            : [configuration.GetSection(Key).GetChildren().Select(c => c.Value).Prepend(configuration[Key])];
        if (sources.Select(s => CertificateSettingsRules.Normalize(s.SelectMany(v => v?.Split(',') ?? []))).FirstOrDefault(n => n.Length > 0) is { } names)
        {
            options.Names = names;
        }
    }

    private static IEnumerable<string?> NamesIn(IConfigurationProvider provider)
    {
        provider.TryGet(Key, out var joined);
        var items = provider.GetChildKeys([], Key)
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Order(ConfigurationKeyComparer.Instance)
            .Select(key => provider.TryGet($"{Key}:{key}", out var value) ? value : null);
        return items.Prepend(joined);
    }
}

internal sealed class HostNameOptionsValidator : IValidateOptions<HostNameOptions>
{
    public ValidateOptionsResult Validate(string? name, HostNameOptions options)
    {
        var problems = new SettingProblems(HoopOptions.Section);
        foreach (var problem in options.Names.Select(CertificateSettingsRules.HostName).OfType<string>())
        {
            problems.Add("HostNames", problem);
        }

        return problems.Result;
    }
}
