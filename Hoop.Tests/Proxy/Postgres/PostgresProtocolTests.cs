using System.Buffers;
using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using Hoop.Proxy.Postgres;
using Hoop.Tests.Support;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Hoop.Tests.Proxy.Postgres;

/// <summary>Bad input on the Postgres port: a clear 08P01 where the client can read one, the connection closed, the process serving others.</summary>
public sealed class PostgresProtocolTests(PostgresFixture fixture) : IClassFixture<PostgresFixture>
{
    private static byte[] Int32(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        return bytes;
    }

    [Theory]
    [InlineData(4)]
    [InlineData(20_000)]
    [InlineData(-1)]
    public async Task StartupLengthOutOfRange_Is08P01(int length)
    {
        await using var client = await RawPgClient.ConnectAsync(fixture.PgPort);
        await client.SendAsync([.. Int32(length), .. Int32(PgWire.ProtocolVersion3)]);

        var (state, message) = await client.ErrorThenCloseAsync();

        Assert.Equal("08P01", state);
        Assert.Contains("startup packet length", message);
        await StillServesAsync();
    }

    [Fact]
    public async Task GssEncRequest_IsAnsweredNo_ThenTlsWorks()
    {
        await using var client = await RawPgClient.ConnectAsync(fixture.PgPort);
        await client.SendAsync(PgWire.Code(PgWire.GssEncRequestCode));

        Assert.Equal((byte)'N', await client.ReadByteAsync());
        await client.StartTlsAsync(fixture.Hoop.Certificate);
        await client.LoginAsync(fixture.Token("gss-then-tls"));
    }

    [Fact]
    public async Task DirectTls_WithAlpnPostgresql_Works()
    {
        await using var client = await RawPgClient.ConnectAsync(fixture.PgPort);
        await client.StartTlsAsync(fixture.Hoop.Certificate, direct: true);

        await client.LoginAsync(fixture.Token("direct-tls"));
    }

    [Theory]
    [InlineData("second-ssl-request")]
    [InlineData("replication")]
    [InlineData("options")]
    [InlineData("protocol-2")]
    public async Task BadStartupInsideTls_Is08P01(string what)
    {
        await using var client = await RawPgClient.ConnectAsync(fixture.PgPort);
        await client.StartTlsAsync(fixture.Hoop.Certificate);
        await client.SendAsync(what switch
        {
            "second-ssl-request" => PgWire.Code(PgWire.SslRequestCode),
            "replication" => RawPgClient.Startup(("user", "agent"), ("database", "ledger"), ("replication", "database")),
            "options" => RawPgClient.Startup(("user", "agent"), ("database", "ledger"), ("options", "-c search_path=evil")),
            _ => PgWire.Code(0x00020000),
        });

        var (state, _) = await client.ErrorThenCloseAsync();

        Assert.Equal("08P01", state);
    }

    [Theory]
    [InlineData("unknown-type")]
    [InlineData("length-under-4")]
    [InlineData("absurd-length")]
    [InlineData("function-call")]
    public async Task BadMessageAfterLogin_EndsTheSessionWithTheReason(string what)
    {
        var subject = $"bad-frame-{what}";
        var before = await BackendSessionsAsync();
        await using (var client = await RawPgClient.ConnectAsync(fixture.PgPort))
        {
            await client.StartTlsAsync(fixture.Hoop.Certificate);
            await client.LoginAsync(fixture.Token(subject));
            await client.SendAsync(what switch
            {
                "unknown-type" => [(byte)'!', .. Int32(4)],
                "length-under-4" => [(byte)'Q', .. Int32(2)],
                "absurd-length" => [(byte)'Q', .. Int32(int.MaxValue)],
                _ => [(byte)'F', .. Int32(4)],
            });

            var (state, _) = await client.ErrorThenCloseAsync();
            Assert.Equal(what == "function-call" ? "0A000" : "08P01", state);
        }

        var session = await EndedSessionAsync(subject);
        Assert.StartsWith("Protocol violation by the agent", session.EndReason);
        await Eventually.TrueAsync(async () => await BackendSessionsAsync() == before); // Hoop's database session is closed, not kept.
        await StillServesAsync();
    }

    [Fact]
    public async Task EofInTheMiddleOfAMessage_EndsTheSessionWithTheReason()
    {
        await using (var client = await RawPgClient.ConnectAsync(fixture.PgPort))
        {
            await client.StartTlsAsync(fixture.Hoop.Certificate);
            await client.LoginAsync(fixture.Token("cut-off"));
            await client.SendAsync([(byte)'Q', .. Int32(100), .. "SELECT"u8.ToArray()]);
        }

        var session = await EndedSessionAsync("cut-off");
        Assert.Contains("in the middle of a message", session.EndReason);
        await StillServesAsync();
    }

    /// <summary>Random frames after a real login: whatever they are, the listener answers or closes, and keeps serving.</summary>
    [Fact]
    public async Task RandomFramesAfterLogin_NeverBreakTheListener()
    {
        var frames = Gen.Sample(ArbMap.Default.GeneratorFor<byte[]>().Select(b => b.Length > 0 ? b : [(byte)'X']), 20);
        foreach (var frame in frames)
        {
            await using var client = await RawPgClient.ConnectAsync(fixture.PgPort);
            await client.StartTlsAsync(fixture.Hoop.Certificate);
            await client.LoginAsync(fixture.Token("fuzzer"));
            await client.SendAsync(frame);
            await client.SendAsync(PgWire.Terminate);
        }

        await StillServesAsync();
    }

    // Unit properties of the frame reader: nothing but a protocol error escapes, and nothing is buffered past the limits.

    [Fact]
    public void FrameReader_OnRandomBytes_ThrowsOnlyProtocolErrors_AndBoundsWhatItWaitsFor()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<byte[]>(), bytes =>
        {
            var buffer = new System.Buffers.ReadOnlySequence<byte>(bytes);
            try
            {
                while (PgWire.TryReadMessage(ref buffer, out var message, out _))
                {
                    _ = PgWire.Fields(message.Body.ToArray());
                    _ = PgRows.Values(message.Body.ToArray());
                }

                // Waiting for more: only ever for a frame within the limit.
                return buffer.Length < 5 || PgWire.ReadInt32(buffer.Slice(1)) <= PgWire.MaxMessageBytes;
            }
            catch (PgProtocolException)
            {
                return true;
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void StartupReader_OnMutatedPackets_ThrowsOnlyProtocolErrors()
    {
        var valid = RawPgClient.Startup(("user", "agent"), ("database", "ledger"), ("application_name", "psql"));
        var mutations = ArbMap.Default.GeneratorFor<(int, byte)[]>().ToArbitrary();
        Prop.ForAll(mutations, changes =>
        {
            var packet = (byte[])valid.Clone();
            foreach (var (at, value) in changes)
            {
                packet[Math.Abs(at % packet.Length)] = value;
            }

            var buffer = new System.Buffers.ReadOnlySequence<byte>(packet);
            try
            {
                if (PgWire.TryReadStartup(ref buffer, out _, out var body))
                {
                    _ = PgWire.StartupParameters(body.ToArray());
                }

                return true;
            }
            catch (PgProtocolException)
            {
                return true;
            }
        }).QuickCheckThrowOnFailure();
    }

    private async Task<int> BackendSessionsAsync() =>
        (int)await fixture.Postgres.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'");

    private async Task<Hoop.Data.Entities.Session> EndedSessionAsync(string subject)
    {
        await Eventually.TrueAsync(async () =>
        {
            await fixture.FlushRecordingAsync();
            await using var db = await fixture.Contexts.CreateDbContextAsync();
            return await db.Sessions.AnyAsync(s => s.Subject == subject && s.EndedAt != null);
        });
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        return await db.Sessions.FirstAsync(s => s.Subject == subject && s.EndedAt != null);
    }

    [Fact]
    public async Task SilentClient_IsClosedAtTheFirstBytesDeadline_NotAfterTheWholeStartupTime()
    {
        // Defaults: 5 s to send the SSLRequest or startup packet, 30 s for the whole start-up.
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(System.Net.IPAddress.Loopback, fixture.PgPort);
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var read = await socket.ReceiveAsync(new byte[1], System.Net.Sockets.SocketFlags.None, patience.Token);

        Assert.Equal(0, read);
        await StillServesAsync();
    }

    [Fact]
    public async Task ClientSilentAfterSslRequest_IsClosedAtTheHandshakeDeadline()
    {
        // Defaults: 10 s for the TLS handshake once the SSLRequest is in.
        await using var client = await RawPgClient.ConnectAsync(fixture.PgPort);
        await client.SendAsync(PgWire.Code(PgWire.SslRequestCode));
        Assert.Equal((byte)'S', await client.ReadByteAsync());

        // Before the fix only the 30 s start-up deadline ended it; this read gives up (throws) after 25.
        var (type, _) = await client.ReadAsync(TimeSpan.FromSeconds(25));

        Assert.Equal('\0', type);
    }

    private async Task StillServesAsync()
    {
        await using var agent = await fixture.OpenAgentAsync();
        await using var command = new NpgsqlCommand("SELECT 41 + 1", agent);
        Assert.Equal(42, await command.ExecuteScalarAsync());
    }
}
