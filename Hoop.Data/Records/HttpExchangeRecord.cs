namespace Hoop.Data.Records;

/// <summary>
/// What the recording keeps of one HTTP exchange (event kinds "http", "http-denied", "http-held", "http-upgrade"):
/// request and response with agent credentials removed, the stored secret scrubbed and bodies masked, what stopped
/// or let it through, and the TLS on both sides. Written by the proxy, read by replay, search and export.
/// </summary>
public sealed record HttpExchangeRecord
{
    /// <summary>The shape written now; events recorded before the field existed have this shape too and read as 1.</summary>
    public const int Current = 1;

    // Settable, not init: generated deserialization then leaves the default for a record without the field.
    public int V { get; set; } = Current;
    public required HttpRequestRecord Request { get; init; }
    public required HttpResponseRecord Response { get; init; }

    /// <summary>The connection was upgraded (a WebSocket): what followed is not in the record.</summary>
    public bool Upgrade { get; init; }

    /// <summary>Why the exchange did not complete, or why Hoop stopped it, in the words the agent got.</summary>
    public string? Error { get; init; }

    /// <summary>Where the backend sent the stored secret back (it was replaced before the agent got it).</summary>
    public IReadOnlyList<string>? SecretReflected { get; init; }

    /// <summary>The reviews whose approval let the request through.</summary>
    public IReadOnlyList<Guid>? ApprovedBy { get; init; }

    /// <summary>Values masked, by detector, in both directions and in this record.</summary>
    public IReadOnlyDictionary<string, int>? Masked { get; init; }

    /// <summary>Why a body went through unmasked (an admin's PassThrough over the masking limit).</summary>
    public string? MaskingSkipped { get; init; }

    public TlsRecord? Tls { get; init; }
    public double DurationMs { get; init; }
}
