namespace Hoop.Proxy.Masking;

/// <summary>How much of a body masking may hold in memory, and what happens past that Bound from Hoop:Masking.</summary>
public sealed class MaskingOptions
{
    /// <summary>A body that some rule must mask is buffered up to this size.</summary>
    public int MaxBodyKilobytes { get; init; } = 1024;

    public int MaxBodyBytes => MaxBodyKilobytes * 1024;

    public MaskingOverLimit OverLimit { get; init; } = MaskingOverLimit.Block;
}

public enum MaskingOverLimit
{
    /// <summary>Refuse the exchange: nothing unmasked gets through.</summary>
    Block,

    /// <summary>Let the body through unmasked and record that masking was skipped.</summary>
    PassThrough,
}
