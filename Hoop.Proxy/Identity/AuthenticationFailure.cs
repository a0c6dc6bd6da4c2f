namespace Hoop.Proxy.Identity;

/// <summary>Why a credential was not accepted, in words an agent (or its developer) can act on.</summary>
public sealed record AuthenticationFailure(string Reason);
