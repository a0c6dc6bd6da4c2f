namespace Hoop.Data.Records;

/// <summary>
/// A body as recorded: its size, and its text up to the recording limit (masked, scrubbed), or a note on why it is
/// not kept as text (a type that is not text, an encoding, a masking failure).
/// </summary>
public sealed record BodyRecord(long Bytes, bool Truncated, string? Text, string? Note);
