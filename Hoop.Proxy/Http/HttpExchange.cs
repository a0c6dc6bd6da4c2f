using Hoop.Proxy.Credentials;
using Hoop.Proxy.Guardrails;
using Hoop.Proxy.Model;
using Hoop.Proxy.Recording;

namespace Hoop.Proxy.Http;

/// <summary>
/// One agent request on the proxy port, from its admission to its recording: who asked, for which connection by
/// which route, in which session, and what happened on the way. <see cref="ProxyGate"/> makes it and hands it to each
/// step in turn (<see cref="GuardrailCheck"/>, <see cref="BackendTransformer"/>, <see cref="ExchangeRecord"/>).
/// </summary>
internal sealed class HttpExchange(Caller caller, ConnectionPolicy connection, ProxyRoute route, LiveSession? session, HttpMasking masking)
{
    public Caller Caller => caller;
    public ConnectionPolicy Connection => connection;
    public ProxyRoute Route => route;
    public LiveSession? Session => session;

    /// <summary>The masking rules of this caller and connection, per direction, and what they masked.</summary>
    public HttpMasking Masking => masking;

    /// <summary>Where the backend sent the stored secret back (scrubbed before the agent got it).</summary>
    public SecretReflection Reflection { get; } = new();

    /// <summary>Receives the first bytes of the backend's response; null when the exchange is not captured (upgrades).</summary>
    public ResponseCapture? Response { get; init; }

    /// <summary>Set when a guardrail stopped the request (for the recording).</summary>
    public GuardrailStop? Stop { get; set; }

    /// <summary>The reviews whose approval let this request through (for the recording).</summary>
    public List<Guid> ApprovedBy { get; } = [];
}
