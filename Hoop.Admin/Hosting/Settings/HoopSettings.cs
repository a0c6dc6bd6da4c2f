using System.Text.RegularExpressions;
using Hoop.Admin.Auth;
using Hoop.Data.Store;
using Hoop.Proxy.Http;
using Hoop.Proxy.Limits;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Model;
using Hoop.Proxy.Reviews;
using Microsoft.Extensions.Options;

namespace Hoop.Admin.Hosting.Settings;

/// <summary>
/// Every start-up setting, bound from configuration into its area's options with one validator per area. Options are
/// read once and never changed after start-up; services take the options object itself. A wrong setting becomes one
/// <see cref="StartupException"/> naming the setting and the fix (exit code 2).
/// </summary>
public static partial class HoopSettings
{
    public static IServiceCollection AddHoopSettings(this IServiceCollection services)
    {
        Bind<HoopOptions, HoopOptionsValidator>(services, HoopOptions.Section);
        Bind<StoreOptions, StoreOptionsValidator>(services, HoopOptions.Section).PostConfigure(o => o.ResolvePaths());
        Bind<IdentityOptions, IdentityOptionsValidator>(services, "Hoop:Identity").PostConfigure(IdentityOptionsValidator.Complete);
        Bind<RecordingOptions, RecordingOptionsValidator>(services, "Hoop:Recording");
        Bind<MaskingOptions, MaskingOptionsValidator>(services, "Hoop:Masking");
        Bind<ReviewOptions, ReviewOptionsValidator>(services, "Hoop:Reviews");
        Bind<ProxyOptions, ProxyOptionsValidator>(services, "Hoop:Proxy");
        Bind<AcmeOptions, AcmeOptionsValidator>(services, "Hoop:Acme").PostConfigure(AcmeOptionsValidator.Complete);
        Bind<ConnectionLimits, LimitsValidator>(services, "Hoop:Limits");
        Bind<PasswordLimits, LimitsValidator>(services, "Hoop:Limits");
        services.AddSingleton<IValidateOptions<HostNameOptions>, HostNameOptionsValidator>();
        services.AddOptions<HostNameOptions>().Configure<IConfiguration>(HostNameOptions.Read).ValidateOnStart();
        services.AddSingleton(sp => new CertificateSettings(Value<HostNameOptions>(sp).Names, Value<AcmeOptions>(sp)));
        return services;
    }

    private static OptionsBuilder<T> Bind<T, TValidator>(IServiceCollection services, string section)
        where T : class
        where TValidator : class, IValidateOptions<T>
    {
        services.AddSingleton<IValidateOptions<T>, TValidator>();
        services.AddSingleton(Value<T>);
        return services.AddOptions<T>().BindConfiguration(section).ValidateOnStart();
    }

    private static T Value<T>(IServiceProvider services) where T : class => services.GetRequiredService<IOptions<T>>().Value;

    /// <summary>
    /// Reads every setting now, before anything is written (the data folder, the master key), instead of when the
    /// host starts; the first wrong one stops start-up.
    /// </summary>
    public static void Check(IServiceProvider services)
    {
        try
        {
            services.GetRequiredService<IStartupValidator>().Validate();
        }
        catch (Exception e) when (Problem(e) is { } problem)
        {
            throw problem;
        }
    }

    /// <summary>One area's settings outside a host (the healthcheck command, tests).</summary>
    public static T Read<T>(IConfiguration configuration) where T : class
    {
        using var services = new ServiceCollection().AddSingleton(configuration).AddHoopSettings().BuildServiceProvider();
        try
        {
            return Value<T>(services);
        }
        catch (Exception e) when (Problem(e) is { } problem)
        {
            throw problem;
        }
    }

    /// <summary>A validator's first finding, or a value the binder could not convert, as the one line to print.</summary>
    public static StartupException? Problem(Exception e) => e switch
    {
        StartupException s => s,
        AggregateException a => a.InnerExceptions.Select(Problem).FirstOrDefault(p => p is not null),
        OptionsValidationException v => new StartupException(v.Failures.First(), v),
        InvalidOperationException i when BinderFailure().Match(i.Message) is { Success: true } m =>
            new StartupException(Unconvertible(m.Groups["path"].Value, m.Groups["value"].Value, m.Groups["type"].Value, i.InnerException), i),
        _ => null,
    };

    private static string Unconvertible(string path, string value, string type, Exception? inner) => type switch
    {
        "System.Int32" when path.EndsWith("Port", StringComparison.Ordinal) => $"{path}: '{value}' is not a port number. Use a whole number from 1 to 65535.",
        "System.Int32" => $"{path}: '{value}' is not a whole number.",
        "System.Boolean" => $"{path}: '{value}' is neither true nor false.",
        _ when type.EndsWith(nameof(RecordingMode), StringComparison.Ordinal) => $"{path}: '{value}' {RecordingOptionsValidator.ModeHint}",
        _ when type.EndsWith(nameof(MaskingOverLimit), StringComparison.Ordinal) => $"{path}: '{value}' {MaskingOptionsValidator.OverLimitHint}",
        // The names of the ACME settings' converter: its message is the whole problem, value and fix.
        _ when inner is FormatException && (type.EndsWith(nameof(AcmeChallengeType), StringComparison.Ordinal)
            || type.EndsWith(nameof(CertificateKeyType), StringComparison.Ordinal)) => $"{path}: {inner.Message}",
        _ => $"{path}: '{value}' cannot be read as {type}.",
    };

    [GeneratedRegex("^Failed to convert configuration value '(?<value>.*)' at '(?<path>[^']+)' to type '(?<type>[^']+)'")]
    private static partial Regex BinderFailure();
}
