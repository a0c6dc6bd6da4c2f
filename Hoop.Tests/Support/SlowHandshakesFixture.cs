namespace Hoop.Tests.Support;

/// <summary>
/// <see cref="DataPathFixture"/> with a TLS handshake deadline long enough that silent connections stay open for a
/// whole test, so what is measured is the per-source cap on handshakes and not the deadline.
/// </summary>
public sealed class SlowHandshakesFixture : DataPathFixture
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Hoop:Limits:TlsHandshakeSeconds"] = "120",
    };
}
