using Hoop.Proxy.Masking;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

internal sealed class MaskingOptionsValidator : IValidateOptions<MaskingOptions>
{
    public const string OverLimitHint =
        "is not a choice. Use Block (refuse a body too large to mask) or PassThrough (let it through unmasked, and record that).";

    public ValidateOptionsResult Validate(string? name, MaskingOptions options)
    {
        var problems = new SettingProblems("Hoop:Masking");
        problems.Number("MaxBodyKilobytes", options.MaxBodyKilobytes, 1, 64 * 1024);
        problems.Choice("OverLimit", options.OverLimit, OverLimitHint);
        return problems.Result;
    }
}
