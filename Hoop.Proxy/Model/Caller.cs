namespace Hoop.Proxy.Model;

/// <summary>Who is calling, as proven by a token or an API key. Holds no credential.</summary>
public sealed record Caller(string Subject, string DisplayName, IReadOnlyList<string> Groups, CallerKind Kind)
{
    /// <summary>The key's id when <see cref="Kind"/> is ApiKey, so its last use can be recorded.</summary>
    public Guid? ApiKeyId { get; init; }

    /// <summary>The token's issuer URL; null for an API key, whose groups an admin assigned directly.</summary>
    public string? Issuer { get; init; }

    /// <summary>
    /// Who this is across identity providers and key rotations: the issuer with the subject (two providers may
    /// issue the same 'sub'), or the API key's id (a key made again under an old name is someone new).
    /// </summary>
    public string Key => KeyOf(Subject, Issuer, ApiKeyId);

    public static string KeyOf(string subject, string? issuer, Guid? apiKeyId) =>
        apiKeyId is { } id ? $"api-key:{id:n}" : issuer is null ? subject : $"{issuer}#{subject}";
}

public enum CallerKind
{
    Token,
    ApiKey,
}
