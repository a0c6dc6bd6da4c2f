using Hoop.Proxy.Model;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

/// <summary>Hoop:Acme. Read even without a directory URL: ACME may be switched on in the console later.</summary>
internal sealed class AcmeOptionsValidator : IValidateOptions<AcmeOptions>
{
    public ValidateOptionsResult Validate(string? name, AcmeOptions options)
    {
        var problems = new SettingProblems("Hoop:Acme");
        if (options.TrustedRootsFile is { } roots && !File.Exists(roots))
        {
            problems.Add("TrustedRootsFile", $"'{roots}' does not exist.");
        }

        problems.WebhookUrl("AlertWebhook", options.AlertWebhook);
        if (options.DirectoryUrl is null)
        {
            return problems.Result;
        }

        Check(problems, "DirectoryUrl", CertificateSettingsRules.DirectoryUrl(options.DirectoryUrl.OriginalString, out _));
        if (options.Email is { } email)
        {
            Check(problems, "Email", CertificateSettingsRules.Email(email));
        }

        if ((options.EabKeyId is null) != (options.EabMacKey is null))
        {
            problems.AddWhole("Hoop:Acme: set both EabKeyId and EabMacKey (External Account Binding), or neither.");
        }
        else if (options.EabMacKey is { } macKey)
        {
            Check(problems, "EabMacKey", CertificateSettingsRules.EabMacKey(macKey));
        }

        return problems.Result;
    }

    /// <summary>After binding: empty texts are unset, and the roots file's path is absolute.</summary>
    public static void Complete(AcmeOptions options)
    {
        options.Email = Unset(options.Email);
        options.EabKeyId = Unset(options.EabKeyId);
        options.EabMacKey = Unset(options.EabMacKey);
        options.TrustedRootsFile = Unset(options.TrustedRootsFile) is { } file ? Path.GetFullPath(file) : null;
    }

    private static string? Unset(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

    private static void Check(SettingProblems problems, string key, string? problem)
    {
        if (problem is not null)
        {
            problems.Add(key, problem);
        }
    }
}
