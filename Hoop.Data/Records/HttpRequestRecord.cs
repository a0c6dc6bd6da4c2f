namespace Hoop.Data.Records;

/// <summary>The agent's request as recorded: headers that authenticate anyone show as "[removed]".</summary>
public sealed record HttpRequestRecord(string Method, string? Path, string? Query, string Protocol, IReadOnlyDictionary<string, string> Headers,
    BodyRecord? Body);
