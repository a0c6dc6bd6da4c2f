namespace Hoop.Proxy.Model;

public sealed record ApiKeyPolicy(Guid Id, string Name, string Hash, IReadOnlyList<string> Groups, DateTime? ExpiresAt)
{
    public Caller ToCaller() => new($"api-key:{Name}", Name, Groups, CallerKind.ApiKey) { ApiKeyId = Id };
}
