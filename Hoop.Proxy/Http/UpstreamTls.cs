namespace Hoop.Proxy.Http;

/// <summary>The latest handshake with one backend: protocol and cipher, or the reason it was refused.</summary>
internal sealed class UpstreamTls
{
    private volatile string? _negotiated;
    private volatile string? _lastFailure;

    public string? Negotiated { get => _negotiated; internal set => _negotiated = value; }

    public string? LastFailure { get => _lastFailure; internal set => _lastFailure = value; }
}
