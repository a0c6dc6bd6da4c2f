namespace Hoop.Proxy.Certificates;

/// <summary>The names Hoop's inbound certificate must cover (Hoop:HostNames).</summary>
public sealed class CertificateOptions
{
    public required IReadOnlyList<string> HostNames { get; init; }
}
