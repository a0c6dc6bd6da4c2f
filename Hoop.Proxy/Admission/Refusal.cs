namespace Hoop.Proxy.Admission;

/// <summary>A refusal, its reason in words for the caller; each protocol gives it its own form.</summary>
internal sealed record Refusal(RefusalKind Kind, string Reason);
