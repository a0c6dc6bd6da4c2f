using Hoop.Proxy.Recording;

namespace Hoop.Proxy.Http;

/// <summary>How an exchange went, as <see cref="ProxyGate"/> saw it: when, how long, the request body's copy, and what went wrong.</summary>
internal sealed record ExchangeOutcome(DateTime At, TimeSpan Elapsed, BodyCapture? RequestBody, bool Upgrade, string? Error, IReadOnlyList<string> Reflected);
