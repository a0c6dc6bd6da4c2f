namespace Hoop.Tests.Support;

/// <summary>
/// Tests that measure memory or arrival times run alone: other collections running in parallel share the
/// process's heap and the machine's two cores, and would make those measurements about them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Timing
{
    public const string Name = "Timing";
}
