using Hoop.Admin.Auth;
using Hoop.Proxy.Limits;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

/// <summary>Hoop:Limits, which two option types share: connection limits and password limits.</summary>
internal sealed class LimitsValidator : IValidateOptions<ConnectionLimits>, IValidateOptions<PasswordLimits>
{
    public ValidateOptionsResult Validate(string? name, ConnectionLimits options)
    {
        var problems = new SettingProblems("Hoop:Limits");
        problems.Number("PostgresMaxStartingPerSource", options.PostgresMaxStartingPerSource, 1, 100_000);
        problems.Number("TlsMaxHandshakesPerSource", options.TlsMaxHandshakesPerSource, 1, 100_000);
        problems.Number("PostgresMaxStarting", options.PostgresMaxStarting, 1, 100_000);
        problems.Number("PostgresFirstBytesSeconds", options.PostgresFirstBytesSeconds, 1, 300);
        problems.Number("PostgresStartupSeconds", options.PostgresStartupSeconds, 1, 600);
        problems.Number("TlsHandshakeSeconds", options.TlsHandshakeSeconds, 1, 300);
        return problems.Result;
    }

    public ValidateOptionsResult Validate(string? name, PasswordLimits options)
    {
        var problems = new SettingProblems("Hoop:Limits");
        problems.Number("PasswordChecks", options.PasswordChecks, 1, 64);
        problems.Number("PasswordFreeFailures", options.PasswordFreeFailures, 0, 1000);
        problems.Number("PasswordMaxBackoffSeconds", options.PasswordMaxBackoffSeconds, 1, 86_400);
        return problems.Result;
    }
}
