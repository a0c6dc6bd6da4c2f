using System.Globalization;
using System.Net;
using Hoop.Data.Store;
using Hoop.Proxy.Certificates;
using Hoop.Proxy.Certificates.Acme;
using Hoop.Proxy.Http;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Limits;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Recording;
using Hoop.Proxy.Reviews;
using Hoop.Admin.Auth;

namespace Hoop.Admin.Hosting;

/// <summary>
/// The start-up settings under "Hoop", read and checked before anything starts.
/// Each problem becomes one <see cref="StartupException"/> naming the setting and the fix.
/// </summary>
public sealed record HostSettings
{
    public const string Section = "Hoop";

    public required StoreOptions Store { get; init; }
    public required IPAddress BindAddress { get; init; }
    public required Uri ConsoleUrl { get; init; }
    public required int ConsolePort { get; init; }
    public required int ProxyPort { get; init; }
    public required int PostgresPort { get; init; }
    public required int AcmeHttpPort { get; init; }
    public required string AdminUser { get; init; }
    public required IdentityOptions Identity { get; init; }
    public required RecordingOptions Recording { get; init; }
    public required MaskingOptions Masking { get; init; }
    public required ReviewOptions Reviews { get; init; }
    public required ProxyOptions Proxy { get; init; }
    public required CertificateSettings Certificates { get; init; }
    public required ConnectionLimits ConnectionLimits { get; init; }
    public required PasswordLimits PasswordLimits { get; init; }

    public static HostSettings Read(IConfiguration configuration)
    {
        var hoop = configuration.GetSection(Section);
        var dataFolder = Path.GetFullPath(Text(hoop, "DataFolder", "data"));
        var consoleUrl = ReadConsoleUrl(hoop);
        var hostNames = ReadHostNames(configuration);
        var settings = new HostSettings
        {
            Store = new StoreOptions
            {
                DataFolder = dataFolder,
                MasterKeyFile = Path.GetFullPath(Text(hoop, "MasterKeyFile", Path.Combine(dataFolder, "master.key"))),
                LogQueueCapacity = Number(hoop, "LogQueueCapacity", 10_000, 100, 10_000_000),
            },
            BindAddress = ReadBindAddress(hoop),
            ConsoleUrl = consoleUrl,
            ConsolePort = consoleUrl.Port,
            ProxyPort = Port(hoop, "ProxyPort", 8443),
            PostgresPort = Port(hoop, "PostgresPort", 15432),
            AcmeHttpPort = Port(hoop, "AcmeHttpPort", 8080),
            AdminUser = Text(hoop, "AdminUser", "admin"),
            Identity = new IdentityOptions { Issuers = ReadIssuers(hoop.GetSection("Identity:Issuers")) },
            Recording = ReadRecording(hoop.GetSection("Recording")),
            Masking = ReadMasking(hoop.GetSection("Masking")),
            Reviews = ReadReviews(hoop.GetSection("Reviews"), consoleUrl),
            Certificates = new CertificateSettings(hostNames, ReadAcme(hoop.GetSection("Acme"))),
            Proxy = new ProxyOptions
            {
                BackendTimeout = TimeSpan.FromSeconds(Number(hoop, "Proxy:BackendTimeoutSeconds", 100, 1, 3600)),
            },
            ConnectionLimits = ReadConnectionLimits(hoop.GetSection("Limits")),
            PasswordLimits = ReadPasswordLimits(hoop.GetSection("Limits")),
        };
        settings.CheckPortsDistinct();
        return settings;
    }

    private void CheckPortsDistinct()
    {
        (string Name, int Port)[] ports =
        [
            ("Hoop:ConsoleUrl", ConsolePort), ("Hoop:ProxyPort", ProxyPort),
            ("Hoop:PostgresPort", PostgresPort), ("Hoop:AcmeHttpPort", AcmeHttpPort),
        ];
        var clash = ports.Where(p => p.Port != 0).GroupBy(p => p.Port).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
        {
            throw new StartupException(
                $"{string.Join(" and ", clash.Select(p => p.Name))} both use port {clash.Key}. Give each listener its own port.");
        }
    }

    private static string Text(IConfiguration section, string key, string fallback)
    {
        var value = section[key];
        return string.IsNullOrWhiteSpace(value) ? fallback : value.Trim();
    }

    /// <summary>A TCP port; 0 lets the system choose (used by tests).</summary>
    private static int Port(IConfiguration section, string key, int fallback) =>
        Number(section, key, fallback, 0, 65535, "is not a port number. Use a whole number from 1 to 65535");

    private static int Number(IConfiguration section, string key, int fallback, int min, int max, string? problem = null, string prefix = "")
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) || number < min || number > max)
        {
            throw new StartupException(
                $"{Section}:{prefix}{key}: '{value}' {problem ?? $"is not a whole number from {min} to {max}"}.");
        }

        return number;
    }

    private static Uri ReadConsoleUrl(IConfiguration section)
    {
        var value = Text(section, "ConsoleUrl", "https://localhost:7443");
        if (!Uri.TryCreate(value, UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttps
            || url.AbsolutePath != "/" || !string.IsNullOrEmpty(url.Query))
        {
            throw new StartupException(
                $"{Section}:ConsoleUrl: '{value}' is not an https URL of a host and port, such as https://hoop.example.com:7443. The console is served over TLS only.");
        }

        return url;
    }

    private static IPAddress ReadBindAddress(IConfiguration section)
    {
        var value = Text(section, "BindAddress", "127.0.0.1");
        return IPAddress.TryParse(value, out var address)
            ? address
            : throw new StartupException(
                $"{Section}:BindAddress: '{value}' is not an IP address. Use 127.0.0.1 for this machine only, or 0.0.0.0 (or ::) for every interface.");
    }

    private static List<IssuerOptions> ReadIssuers(IConfigurationSection section)
    {
        var issuers = new List<IssuerOptions>();
        foreach (var entry in section.GetChildren())
        {
            var key = $"{Section}:Identity:Issuers:{entry.Key}";
            var authority = entry["Authority"]?.Trim();
            var requireHttps = !string.Equals(entry["RequireHttpsMetadata"], "false", StringComparison.OrdinalIgnoreCase);
            if (!Uri.TryCreate(authority, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && !(url.Scheme == Uri.UriSchemeHttp && !requireHttps)))
            {
                throw new StartupException(
                    $"{key}:Authority: '{authority}' is not an https URL. Set it to the issuer URL exactly as tokens carry it in 'iss' (plain http only with RequireHttpsMetadata=false, for a local test provider).");
            }

            if (issuers.Any(i => i.Authority == authority))
            {
                throw new StartupException($"{key}:Authority: '{authority}' is configured twice. List each issuer once.");
            }

            var audience = entry["Audience"]?.Trim();
            if (string.IsNullOrEmpty(audience))
            {
                throw new StartupException($"{key}:Audience is missing. Set it to the 'aud' value the issuer puts in access tokens meant for Hoop.");
            }

            var metadata = entry["MetadataAddress"]?.Trim();
            if (!string.IsNullOrEmpty(metadata) && !Uri.TryCreate(metadata, UriKind.Absolute, out _))
            {
                throw new StartupException($"{key}:MetadataAddress: '{metadata}' is not a URL.");
            }

            var bundleFile = entry["CaBundleFile"]?.Trim();
            string? bundle = null;
            if (!string.IsNullOrEmpty(bundleFile))
            {
                try
                {
                    bundle = File.ReadAllText(bundleFile);
                    _ = IssuerOptions.ReadBundle(bundle);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
                {
                    throw new StartupException($"{key}:CaBundleFile: '{bundleFile}' cannot be read as PEM certificates ({e.Message}).");
                }
            }

            issuers.Add(new IssuerOptions
            {
                CaBundlePem = bundle,
                Authority = authority!,
                Audience = audience,
                GroupsClaim = string.IsNullOrWhiteSpace(entry["GroupsClaim"]) ? "groups" : entry["GroupsClaim"]!.Trim(),
                MetadataAddress = string.IsNullOrEmpty(metadata) ? null : metadata,
                RequireHttpsMetadata = requireHttps,
                DisplayName = string.IsNullOrWhiteSpace(entry["DisplayName"]) ? null : entry["DisplayName"]!.Trim(),
                ClientId = string.IsNullOrWhiteSpace(entry["ClientId"]) ? null : entry["ClientId"]!.Trim(),
                ClientSecret = string.IsNullOrEmpty(entry["ClientSecret"]) ? null : entry["ClientSecret"],
            });
        }

        return issuers;
    }

    private static RecordingOptions ReadRecording(IConfigurationSection section)
    {
        var mode = Text(section, "Mode", nameof(RecordingMode.Required));
        if (!Enum.TryParse<RecordingMode>(mode, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed))
        {
            throw new StartupException($"{Section}:Recording:Mode: '{mode}' is not a recording mode. Use Required (refuse unrecorded access) or BestEffort.");
        }

        return new RecordingOptions
        {
            Mode = parsed,
            MaxBodyBytes = Number(section, "MaxBodyBytes", 64 * 1024, 0, 16 * 1024 * 1024, prefix: "Recording:"),
            MaxRows = Number(section, "MaxRows", 20, 0, 1000, prefix: "Recording:"),
            QueueCapacity = Number(section, "QueueCapacity", 10_000, 100, 10_000_000, prefix: "Recording:"),
            SessionIdleTimeout = TimeSpan.FromSeconds(Number(section, "SessionIdleSeconds", 300, 1, 86_400, prefix: "Recording:")),
            UsersSeeOwnSessions = Flag(section, "UsersSeeOwnSessions", "Recording:"),
        };
    }

    private static ConnectionLimits ReadConnectionLimits(IConfigurationSection section) => new()
    {
        MaxStartingPerSource = Number(section, "PostgresMaxStartingPerSource", 32, 1, 100_000, prefix: "Limits:"),
        MaxHandshakesPerSource = Number(section, "TlsMaxHandshakesPerSource", 128, 1, 100_000, prefix: "Limits:"),
        MaxStarting = Number(section, "PostgresMaxStarting", 256, 1, 100_000, prefix: "Limits:"),
        FirstBytesTimeout = TimeSpan.FromSeconds(Number(section, "PostgresFirstBytesSeconds", 5, 1, 300, prefix: "Limits:")),
        StartupTimeout = TimeSpan.FromSeconds(Number(section, "PostgresStartupSeconds", 30, 1, 600, prefix: "Limits:")),
        HandshakeTimeout = TimeSpan.FromSeconds(Number(section, "TlsHandshakeSeconds", 10, 1, 300, prefix: "Limits:")),
    };

    private static PasswordLimits ReadPasswordLimits(IConfigurationSection section) => new()
    {
        MaxConcurrentChecks = Number(section, "PasswordChecks", 2, 1, 64, prefix: "Limits:"),
        FreeFailures = Number(section, "PasswordFreeFailures", 5, 0, 1000, prefix: "Limits:"),
        MaxBackoff = TimeSpan.FromSeconds(Number(section, "PasswordMaxBackoffSeconds", 300, 1, 86_400, prefix: "Limits:")),
    };

    private static bool Flag(IConfiguration section, string key, string prefix)
    {
        var value = section[key];
        return string.IsNullOrWhiteSpace(value) ? false : bool.TryParse(value, out var flag) ? flag
            : throw new StartupException($"{Section}:{prefix}{key}: '{value}' is neither true nor false.");
    }

    private static ReviewOptions ReadReviews(IConfigurationSection section, Uri consoleUrl)
    {
        var url = WebhookUrl(section, "Reviews:", "Webhook", " Give a Slack-compatible incoming webhook, or leave it empty.");

        return new ReviewOptions
        {
            PendingTimeout = TimeSpan.FromMinutes(Number(section, "PendingMinutes", 60, 1, 7 * 24 * 60, prefix: "Reviews:")),
            MaxWait = TimeSpan.FromSeconds(Number(section, "MaxWaitSeconds", 300, 0, 3600, prefix: "Reviews:")),
            Webhook = url,
            ConsoleUrl = consoleUrl,
        };
    }

    private static MaskingOptions ReadMasking(IConfigurationSection section)
    {
        var overLimit = Text(section, "OverLimit", nameof(MaskingOverLimit.Block));
        if (!Enum.TryParse<MaskingOverLimit>(overLimit, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed))
        {
            throw new StartupException($"{Section}:Masking:OverLimit: '{overLimit}' is not a choice. Use Block (refuse a body too large to mask) or PassThrough (let it through unmasked, and record that).");
        }

        return new MaskingOptions
        {
            MaxBodyBytes = Number(section, "MaxBodyKilobytes", 1024, 1, 64 * 1024, prefix: "Masking:") * 1024,
            OverLimit = parsed,
        };
    }

    private static AcmeOptions ReadAcme(IConfigurationSection section)
    {
        // Read even without a directory URL: ACME may be switched on in the console later.
        var roots = section["TrustedRootsFile"]?.Trim();
        if (!string.IsNullOrEmpty(roots) && !File.Exists(roots))
        {
            throw new StartupException($"{Section}:Acme:TrustedRootsFile: '{roots}' does not exist.");
        }

        var alert = WebhookUrl(section, "Acme:", "AlertWebhook", "");

        var configured = new AcmeOptions
        {
            TrustedRootsFile = string.IsNullOrEmpty(roots) ? null : Path.GetFullPath(roots),
            AlertWebhook = alert,
            AllowReservedNames = Flag(section, "AllowReservedNames", "Acme:"),
        };
        var directory = section["DirectoryUrl"]?.Trim();
        if (string.IsNullOrEmpty(directory))
        {
            return configured;
        }

        Check("Acme:DirectoryUrl", CertificateSettingsRules.DirectoryUrl(directory, out var url));
        var email = section["Email"]?.Trim();
        if (!string.IsNullOrEmpty(email))
        {
            Check("Acme:Email", CertificateSettingsRules.Email(email));
        }

        var (keyId, macKey) = (section["EabKeyId"]?.Trim(), section["EabMacKey"]?.Trim());
        if (string.IsNullOrEmpty(keyId) != string.IsNullOrEmpty(macKey))
        {
            throw new StartupException($"{Section}:Acme: set both EabKeyId and EabMacKey (External Account Binding), or neither.");
        }

        if (!string.IsNullOrEmpty(macKey))
        {
            Check("Acme:EabMacKey", CertificateSettingsRules.EabMacKey(macKey));
        }

        Check("Acme:Challenge", CertificateSettingsRules.Challenge(Text(section, "Challenge", "http-01"), out var challenge));
        Check("Acme:KeyType", CertificateSettingsRules.KeyType(Text(section, "KeyType", "ecdsa-p256"), out var keyType));
        return configured with
        {
            DirectoryUrl = url,
            Email = string.IsNullOrEmpty(email) ? null : email,
            EabKeyId = string.IsNullOrEmpty(keyId) ? null : keyId,
            EabMacKey = string.IsNullOrEmpty(macKey) ? null : macKey,
            Challenge = challenge,
            KeyType = keyType,
        };
    }

    /// <summary>An optional http or https URL that Hoop posts notices to; null when not set.</summary>
    private static Uri? WebhookUrl(IConfigurationSection section, string prefix, string key, string hint)
    {
        var text = section[key]?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            return null;
        }

        return Uri.TryCreate(text, UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttps || url.Scheme == Uri.UriSchemeHttp)
            ? url
            : throw new StartupException($"{Section}:{prefix}{key}: '{text}' is not an http(s) URL.{hint}");
    }

    /// <summary>Turns a rule's complaint about one setting into the start-up error naming it.</summary>
    private static void Check(string key, string? problem)
    {
        if (problem is not null)
        {
            throw new StartupException($"{Section}:{key}: {problem}");
        }
    }

    private const string HostNamesKey = Section + ":HostNames";

    /// <summary>
    /// The host names from the last configuration source that gives any (appsettings.json, then the environment,
    /// then the command line): the list is taken whole from that one source, since lists from several sources
    /// would merge by index and keep the defaults' tail (hoop.example.com, hoop.localhost). A source gives them as
    /// a list (Hoop:HostNames:0, :1...) or as one comma-separated value (Hoop:HostNames). None anywhere: this
    /// machine's names.
    /// </summary>
    private static string[] ReadHostNames(IConfiguration configuration)
    {
        IEnumerable<IEnumerable<string?>> sources = configuration is IConfigurationRoot root
            ? root.Providers.Reverse().Select(HostNamesIn)
            : [configuration.GetSection(HostNamesKey).GetChildren().Select(c => c.Value).Prepend(configuration[HostNamesKey])];
        var names = sources.Select(CommaSeparated).Select(CertificateSettingsRules.Normalize).FirstOrDefault(n => n.Length > 0);
        if (names is null)
        {
            return ["localhost", "hoop.localhost"];
        }

        foreach (var name in names)
        {
            Check("HostNames", CertificateSettingsRules.HostName(name));
        }

        return names;
    }

    private static IEnumerable<string?> HostNamesIn(IConfigurationProvider provider)
    {
        provider.TryGet(HostNamesKey, out var joined);
        var items = provider.GetChildKeys([], HostNamesKey)
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Order(ConfigurationKeyComparer.Instance)
            .Select(key => provider.TryGet($"{HostNamesKey}:{key}", out var value) ? value : null);
        return items.Prepend(joined);
    }

    private static IEnumerable<string?> CommaSeparated(IEnumerable<string?> values) =>
        values.SelectMany(v => v?.Split(',') ?? []);
}
