using Hoop.Proxy.Model;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

internal sealed class RecordingOptionsValidator : IValidateOptions<RecordingOptions>
{
    public const string ModeHint = "is not a recording mode. Use Required (refuse unrecorded access) or BestEffort.";

    public ValidateOptionsResult Validate(string? name, RecordingOptions options)
    {
        var problems = new SettingProblems("Hoop:Recording");
        problems.Choice("Mode", options.Mode, ModeHint);
        problems.Number("MaxBodyBytes", options.MaxBodyBytes, 0, 16 * 1024 * 1024);
        problems.Number("MaxRows", options.MaxRows, 0, 1000);
        problems.Number("QueueCapacity", options.QueueCapacity, 100, 10_000_000);
        problems.Number("SessionIdleSeconds", options.SessionIdleSeconds, 1, 86_400);
        return problems.Result;
    }
}
