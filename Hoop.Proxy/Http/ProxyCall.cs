using Hoop.Proxy.Credentials;
using Hoop.Proxy.Model;
using Hoop.Proxy.Recording;

namespace Hoop.Proxy.Http;

/// <summary>What the gate decided about a request, for the transforms further down the pipeline.</summary>
internal sealed record ProxyCall(Caller Caller, ConnectionPolicy Connection, LiveSession? Session)
{
    /// <summary>Carries the call on the request to the backend, for the handlers that see the backend's answer.</summary>
    public static readonly HttpRequestOptionsKey<ProxyCall> Key = new("hoop.call");

    /// <summary>Where the backend sent the stored secret back (scrubbed before the agent got it).</summary>
    public SecretReflection Reflection { get; } = new();

    /// <summary>Receives the first bytes of the backend's response; null when the exchange is not captured (upgrades).</summary>
    public ResponseCapture? Response { get; init; }

    /// <summary>Set when a guardrail stopped the request: "denied" or "held" (for the recording).</summary>
    public string? Verdict { get; set; }

    /// <summary>The reviews whose approval let this request through (for the recording).</summary>
    public List<Guid> ApprovedBy { get; } = [];

    /// <summary>The masking rules of this caller and connection, per direction.</summary>
    public required HttpMasking Masking { get; init; }
}
