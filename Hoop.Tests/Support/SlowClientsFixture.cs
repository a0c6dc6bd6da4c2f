namespace Hoop.Tests.Support;

/// <summary>
/// <see cref="PostgresFixture"/> with deadlines long enough that silent connections stay open for a whole test, so
/// what is measured is the per-source cap and not the deadlines that would also end them.
/// </summary>
public sealed class SlowClientsFixture : PostgresFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Hoop:Limits:PostgresFirstBytesSeconds"] = "120",
        ["Hoop:Limits:PostgresStartupSeconds"] = "120",
        ["Hoop:Limits:TlsHandshakeSeconds"] = "120",
    };
}
