namespace Hoop.Proxy.Limits;

/// <summary>
/// Limits on connections that have not finished starting, for every port that takes agents. Bound from Hoop:Limits
/// (property names are the setting names). Each port counts its own connections.
/// </summary>
public sealed record ConnectionLimits
{
    /// <summary>Postgres port: connections from one source (an IPv4 address or an IPv6 /64) not let in yet.</summary>
    public int PostgresMaxStartingPerSource { get; init; } = 32;

    /// <summary>
    /// Proxy and console ports: connections from one source still in their TLS handshake. Higher than the Postgres
    /// port's, since an HTTP client may open many connections at once and each handshake is short.
    /// </summary>
    public int TlsMaxHandshakesPerSource { get; init; } = 128;

    /// <summary>Connections still starting on the Postgres port, from all sources.</summary>
    public int PostgresMaxStarting { get; init; } = 256;

    /// <summary>Postgres port: from accept to the first message (SSLRequest, startup, or a direct TLS ClientHello).</summary>
    public int PostgresFirstBytesSeconds { get; init; } = 5;

    /// <summary>A TLS handshake, on every port.</summary>
    public int TlsHandshakeSeconds { get; init; } = 10;

    /// <summary>Postgres port: from accept to being let in (TLS, startup, the agent's authentication).</summary>
    public int PostgresStartupSeconds { get; init; } = 30;

    public TimeSpan FirstBytesTimeout => TimeSpan.FromSeconds(PostgresFirstBytesSeconds);

    public TimeSpan HandshakeTimeout => TimeSpan.FromSeconds(TlsHandshakeSeconds);

    public TimeSpan StartupTimeout => TimeSpan.FromSeconds(PostgresStartupSeconds);
}
