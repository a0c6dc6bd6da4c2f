using System.Net;

namespace Hoop.Admin.Hosting.Settings;

/// <summary>The listeners and the local admin: the keys directly under "Hoop" (property names are the setting names).</summary>
public sealed class HoopOptions
{
    public const string Section = "Hoop";

    /// <summary>127.0.0.1 for this machine only; 0.0.0.0 (or ::) for every interface.</summary>
    public string BindAddress { get; init; } = "127.0.0.1";

    /// <summary>The console's https URL of a host and port; its port is the console's.</summary>
    public string ConsoleUrl { get; init; } = "https://localhost:7443";

    public int ProxyPort { get; init; } = 8443;

    public int PostgresPort { get; init; } = 15432;

    /// <summary>ACME http-01 challenges only.</summary>
    public int AcmeHttpPort { get; init; } = 8080;

    /// <summary>The break-glass admin's user name.</summary>
    public string AdminUser { get; init; } = "admin";

    /// <summary><see cref="BindAddress"/> read (checked by <see cref="HoopOptionsValidator"/>).</summary>
    public IPAddress BindIPAddress => IPAddress.Parse(BindAddress);

    /// <summary><see cref="ConsoleUrl"/> read (checked by <see cref="HoopOptionsValidator"/>).</summary>
    public Uri ConsoleUri => new(ConsoleUrl.Trim());

    public int ConsolePort => ConsoleUri.Port;
}
