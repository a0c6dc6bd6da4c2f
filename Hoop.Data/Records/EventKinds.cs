namespace Hoop.Data.Records;

/// <summary>
/// The kinds of session events, as stored: the record a kind's content holds (<see cref="HttpExchangeRecord"/> for
/// "http…", <see cref="SqlQueryRecord"/> for "sql…"), and whether a guardrail stopped it ("…-denied", "…-held").
/// </summary>
public static class EventKinds
{
    public const string Http = "http";
    public const string HttpUpgrade = "http-upgrade";
    public const string Sql = "sql";

    /// <summary>Ends the kind of an event a deny rule stopped: "http-denied", "sql-denied".</summary>
    public const string DeniedSuffix = "-denied";

    /// <summary>Ends the kind of an event a review held: "http-held", "sql-held".</summary>
    public const string HeldSuffix = "-held";

    /// <summary>The kind of an exchange or query of <paramref name="protocol"/> ("http", "sql") that a guardrail stopped, or not.</summary>
    public static string Of(string protocol, bool denied, bool held) =>
        denied ? protocol + DeniedSuffix : held ? protocol + HeldSuffix : protocol;
}
