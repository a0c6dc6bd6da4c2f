namespace Hoop.Data.Records;

/// <summary>The TLS of an exchange or query: protocol and cipher towards the agent and the backend, and how the backend was verified.</summary>
public sealed record TlsRecord(string? Inbound, string? Upstream, string Verification);
