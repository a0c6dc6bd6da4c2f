namespace Hoop.Proxy.Model;

/// <summary>How the data path records. Bound from Hoop:Recording (property names are the setting names).</summary>
public sealed class RecordingOptions
{
    /// <summary>Required: refuse requests (503) when recording cannot keep up or fails. BestEffort: serve and count the loss.</summary>
    public RecordingMode Mode { get; init; } = RecordingMode.Required;

    /// <summary>Bytes of each request and response body kept in the recording; the rest streams through unrecorded.</summary>
    public int MaxBodyBytes { get; init; } = 64 * 1024;

    /// <summary>Rows of each SQL result kept in the recording (masked); the row count is always kept.</summary>
    public int MaxRows { get; init; } = 20;

    /// <summary>Records that may wait for the writer; a full queue counts as "cannot keep up".</summary>
    public int QueueCapacity { get; init; } = 10_000;

    /// <summary>A session ends after this long without a request from the same caller to the same connection.</summary>
    public int SessionIdleSeconds { get; init; } = 300;

    public TimeSpan SessionIdleTimeout => TimeSpan.FromSeconds(SessionIdleSeconds);

    /// <summary>Whether people without the auditor or admin role may see their own sessions (in the console and the API).</summary>
    public bool UsersSeeOwnSessions { get; init; }
}
