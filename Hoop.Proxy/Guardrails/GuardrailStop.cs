using Hoop.Data.Entities;
using Hoop.Data.Records;

namespace Hoop.Proxy.Guardrails;

/// <summary>How a guardrail stopped a request or query, as its recording says: by a deny rule, or held by a review.</summary>
internal enum GuardrailStop
{
    Denied,
    Held,
}

/// <summary>A stop (or none) as a recorded event names it: in its kind and in its marks.</summary>
internal static class GuardrailStops
{
    /// <summary>"http", "http-denied", "sql-held", ...: the kind of an event of <paramref name="protocol"/>.</summary>
    public static string EventKind(this GuardrailStop? stop, string protocol) =>
        EventKinds.Of(protocol, stop == GuardrailStop.Denied, stop == GuardrailStop.Held);

    public static EventMarks Marks(this GuardrailStop? stop) => stop switch
    {
        GuardrailStop.Denied => EventMarks.Denied,
        GuardrailStop.Held => EventMarks.Held,
        _ => EventMarks.None,
    };
}
