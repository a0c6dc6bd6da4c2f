namespace Hoop.Proxy.Admission;

/// <summary>Why a caller was not let in.</summary>
internal enum RefusalKind
{
    /// <summary>No credential, or one that names nobody (HTTP 401, SQLSTATE 28P01).</summary>
    Unauthenticated,

    /// <summary>The connection is disabled, or none of the caller's groups holds a grant on it (HTTP 403, SQLSTATE 28000).</summary>
    Forbidden,

    /// <summary>Recording is required and cannot keep up (HTTP 503, SQLSTATE 57P03).</summary>
    RecordingUnavailable,
}
