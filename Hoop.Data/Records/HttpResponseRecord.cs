namespace Hoop.Data.Records;

/// <summary>The response as recorded: what the agent got (Hoop's own problem+json when it stopped the request).</summary>
public sealed record HttpResponseRecord(int Status, IReadOnlyDictionary<string, string> Headers, BodyRecord? Body);
