using Hoop.Data.Store;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

internal sealed class StoreOptionsValidator : IValidateOptions<StoreOptions>
{
    public ValidateOptionsResult Validate(string? name, StoreOptions options)
    {
        var problems = new SettingProblems(HoopOptions.Section);
        problems.Number("LogQueueCapacity", options.LogQueueCapacity, 100, 10_000_000);
        return problems.Result;
    }
}
