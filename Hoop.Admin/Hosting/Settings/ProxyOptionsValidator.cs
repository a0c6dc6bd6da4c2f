using Hoop.Proxy.Http;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

internal sealed class ProxyOptionsValidator : IValidateOptions<ProxyOptions>
{
    public ValidateOptionsResult Validate(string? name, ProxyOptions options)
    {
        var problems = new SettingProblems("Hoop:Proxy");
        problems.Number("BackendTimeoutSeconds", options.BackendTimeoutSeconds, 1, 3600);
        return problems.Result;
    }
}
