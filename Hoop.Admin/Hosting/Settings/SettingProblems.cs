using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

/// <summary>
/// What one area's validator found, each as the one line an operator reads: the setting's full name, the value, and
/// the fix ("Hoop:Recording:MaxRows: '5000' is not a whole number from 0 to 1000.").
/// </summary>
internal sealed class SettingProblems(string section)
{
    private readonly List<string> _problems = [];

    public bool None => _problems.Count == 0;

    public ValidateOptionsResult Result => None ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(_problems);

    public void Add(string key, string problem) => _problems.Add($"{section}:{key}: {problem}");

    /// <summary>A problem that names its settings itself.</summary>
    public void AddWhole(string problem) => _problems.Add(problem);

    public void Number(string key, int value, int min, int max)
    {
        if (value < min || value > max)
        {
            Add(key, $"'{value}' is not a whole number from {min} to {max}.");
        }
    }

    /// <summary>A TCP port; 0 lets the system choose (used by tests).</summary>
    public void Port(string key, int value)
    {
        if (value is < 0 or > 65535)
        {
            Add(key, $"'{value}' is not a port number. Use a whole number from 1 to 65535.");
        }
    }

    public void Choice<T>(string key, T value, string hint) where T : struct, Enum
    {
        if (!Enum.IsDefined(value))
        {
            Add(key, $"'{value}' {hint}");
        }
    }

    /// <summary>An optional http or https URL that Hoop posts notices to.</summary>
    public void WebhookUrl(string key, Uri? url, string hint = "")
    {
        if (url is not null && !(url.IsAbsoluteUri && (url.Scheme == Uri.UriSchemeHttps || url.Scheme == Uri.UriSchemeHttp)))
        {
            Add(key, $"'{url.OriginalString}' is not an http(s) URL.{hint}");
        }
    }
}
