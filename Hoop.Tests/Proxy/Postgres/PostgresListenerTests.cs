using System.Net.Sockets;
using Hoop.Proxy.Postgres;
using Hoop.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Hoop.Tests.Proxy.Postgres;

/// <summary>
/// Who may be starting on the Postgres port: connections that have not logged in yet are capped per source address
/// (32 by default) and in all (256), so one address that opens connections and says nothing cannot lock other
/// agents out.
/// </summary>
public sealed class PostgresListenerTests(SlowClientsFixture fixture) : IClassFixture<SlowClientsFixture>
{
    private PostgresListener Listener => fixture.Hoop.Services.GetRequiredService<PostgresListener>();

    [Fact]
    public async Task SilentFloodFromOneAddress_IsCappedForThatAddress_AgentsElsewhereAreServedAtOnce()
    {
        // The report: 300 connections from one address that never send a byte.
        var (flood, _) = await LoopbackSource.FloodAsync("127.0.0.2", fixture.PgPort, 300);
        try
        {
            await Eventually.TrueAsync(() => Listener.Starting >= 32, TimeSpan.FromSeconds(10), () => $"{Listener.Starting} starting");

            // The flooding address is told why.
            var (state, message) = await RefusalAsync("127.0.0.2");
            Assert.Equal("53300", state);
            Assert.Contains("from your address", message);

            // Agents on 127.0.0.1, Npgsql and psql, are let in while the flood holds its places.
            await using (var agent = await fixture.OpenAgentAsync())
            await using (var command = new NpgsqlCommand("SELECT 41 + 1", agent))
            {
                Assert.Equal(42, await command.ExecuteScalarAsync());
            }

            var (exit, output, error) = await fixture.RunClientAsync("psql", fixture.Token(), fixture.Libpq(), "-tAc", "SELECT 'served'");
            Assert.True(exit == 0, error);
            Assert.Equal("served", output.Trim());
            Assert.Equal(32, Listener.Starting);
        }
        finally
        {
            flood.ForEach(s => s.Dispose());
        }

        // Once the flood is gone, the address is served again.
        await Eventually.TrueAsync(() => Listener.Starting == 0, TimeSpan.FromSeconds(10), () => $"{Listener.Starting} starting");
        using var again = await LoopbackSource.ConnectAsync("127.0.0.2", fixture.PgPort);
        await using var raw = new NetworkStream(again, ownsSocket: false);
        await raw.WriteAsync(PgWire.Code(PgWire.SslRequestCode));
        Assert.Equal((byte)'S', (byte)raw.ReadByte());
    }

    [Fact]
    public async Task FloodFromManyAddresses_IsCappedInAll_TheNextIsToldWhy_AndThePortRecovers()
    {
        var flood = new List<Socket>();
        try
        {
            // 8 addresses with 32 each fill the 256 places there are in all.
            for (var i = 10; i < 18; i++)
            {
                flood.AddRange((await LoopbackSource.FloodAsync($"127.0.0.{i}", fixture.PgPort, 32)).Open);
            }

            await Eventually.TrueAsync(() => Listener.Starting == 256, TimeSpan.FromSeconds(10), () => $"{Listener.Starting} starting");
            var (state, message) = await RefusalAsync("127.0.0.20");
            Assert.Equal("53300", state);
            Assert.Contains("too many connections are starting on Hoop's Postgres port", message);
        }
        finally
        {
            flood.ForEach(s => s.Dispose());
        }

        await Eventually.TrueAsync(() => Listener.Starting == 0, TimeSpan.FromSeconds(10), () => $"{Listener.Starting} starting");
        await using var agent = await fixture.OpenAgentAsync();
        await using var command = new NpgsqlCommand("SELECT 41 + 1", agent);
        Assert.Equal(42, await command.ExecuteScalarAsync());
    }

    /// <summary>
    /// The plaintext ErrorResponse a refused connection from <paramref name="from"/> gets. While more than 64 refusals
    /// are still saying why, further ones are closed without a word (a flood's own refusals come first), so this tries
    /// until one is answered.
    /// </summary>
    private async Task<(string SqlState, string Message)> RefusalAsync(string from)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            using var socket = await LoopbackSource.ConnectAsync(from, fixture.PgPort);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await stream.WriteAsync(PgWire.Code(PgWire.SslRequestCode), timeout.Token);
                var header = new byte[5];
                await stream.ReadExactlyAsync(header, timeout.Token);
                Assert.Equal((byte)'E', header[0]);
                var body = new byte[System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
                await stream.ReadExactlyAsync(body, timeout.Token);
                var fields = PgWire.Fields(body);
                return (fields['C'], fields['M']);
            }
            catch (Exception e) when (e is IOException or EndOfStreamException or SocketException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }
}
