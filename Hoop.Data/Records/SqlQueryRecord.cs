namespace Hoop.Data.Records;

/// <summary>
/// What the recording keeps of one SQL query (event kinds "sql", "sql-denied", "sql-held"): its text and parameters
/// masked, the first rows of its result masked, the row count, and what stopped or let it through.
/// </summary>
public sealed record SqlQueryRecord
{
    /// <summary>The shape written now; events recorded before the field existed have this shape too and read as 1.</summary>
    public const int Current = 1;

    // Settable, not init: generated deserialization then leaves the default for a record without the field.
    public int V { get; set; } = Current;
    public required string Query { get; init; }

    /// <summary>"simple" (a Query message) or "extended" (Parse, Bind, Execute).</summary>
    public required string Protocol { get; init; }

    public IReadOnlyList<string?>? Parameters { get; init; }
    public IReadOnlyList<string>? Columns { get; init; }

    /// <summary>The first rows, as text, masked; <see cref="RowsTruncated"/> when there were more.</summary>
    public IReadOnlyList<IReadOnlyList<string?>>? Rows { get; init; }

    public long RowCount { get; init; }
    public bool RowsTruncated { get; init; }

    /// <summary>The command tags the database answered with ("SELECT 3", "UPDATE 1").</summary>
    public IReadOnlyList<string>? Commands { get; init; }

    public string? Error { get; init; }
    public IReadOnlyList<string>? SecretReflected { get; init; }

    /// <summary>The guardrail rule that denied or held the query.</summary>
    public string? Rule { get; init; }

    public IReadOnlyList<Guid>? ApprovedBy { get; init; }
    public IReadOnlyDictionary<string, int>? Masked { get; init; }
    public TlsRecord? Tls { get; init; }
    public double DurationMs { get; init; }
}
