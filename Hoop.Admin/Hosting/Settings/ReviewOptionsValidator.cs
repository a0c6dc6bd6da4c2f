using Hoop.Proxy.Reviews;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

internal sealed class ReviewOptionsValidator : IValidateOptions<ReviewOptions>
{
    public ValidateOptionsResult Validate(string? name, ReviewOptions options)
    {
        var problems = new SettingProblems("Hoop:Reviews");
        problems.Number("PendingMinutes", options.PendingMinutes, 1, 7 * 24 * 60);
        problems.Number("MaxWaitSeconds", options.MaxWaitSeconds, 0, 3600);
        problems.WebhookUrl("Webhook", options.Webhook, " Give a Slack-compatible incoming webhook, or leave it empty.");
        return problems.Result;
    }
}
