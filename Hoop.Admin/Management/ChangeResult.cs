using System.Diagnostics.CodeAnalysis;

namespace Hoop.Admin.Management;

/// <summary>What a change to the configuration came to; the API and the console turn it into their own answer.</summary>
public sealed record ChangeResult<T>(ChangeStatus Status, T? Value = default, IReadOnlyDictionary<string, string[]>? Errors = null)
{
    public static ChangeResult<T> Invalid(Dictionary<string, string[]> errors) => new(ChangeStatus.Invalid, default, errors);
    public static ChangeResult<T> Missing() => new(ChangeStatus.NotFound);
    public static ChangeResult<T> Stale() => new(ChangeStatus.VersionMismatch);

    /// <summary>
    /// Whether <paramref name="stored"/> may not be changed, and why: it is missing, or it changed since the caller
    /// read it (<paramref name="expectedVersion"/>, the API's If-Match; null takes whatever is stored).
    /// </summary>
    public static bool Refuses<TEntity>([NotNullWhen(false)] TEntity? stored, string? expectedVersion, [NotNullWhen(true)] out ChangeResult<T>? refusal)
        where TEntity : class, Hoop.Data.Entities.IVersioned
    {
        refusal = stored is null ? Missing()
            : IsStale(stored.Version.ToString("n"), expectedVersion) ? Stale()
            : null;
        return refusal is not null;
    }

    /// <summary>Whether the caller read another version than the stored one (no expected version: never).</summary>
    public static bool IsStale(string storedVersion, string? expectedVersion) => expectedVersion is not null && expectedVersion != storedVersion;
}

public enum ChangeStatus
{
    Ok,
    Created,
    Invalid,
    NotFound,
    Conflict,
    VersionMismatch,

    /// <summary>The caller may not make this change (not the right role or group, their own request).</summary>
    Forbidden,
}

/// <summary>Collects field errors: each field gets its own messages, as the console shows them beside the field.</summary>
public sealed class FieldErrors
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool Any => _errors.Count > 0;

    public void Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }

        list.Add(message);
    }

    public Dictionary<string, string[]> ToDictionary() => _errors.ToDictionary(e => e.Key, e => e.Value.ToArray());
}
