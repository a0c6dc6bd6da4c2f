using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Hoop.Proxy.Postgres;

namespace Hoop.Tests.Support;

/// <summary>A Postgres client that sends whatever bytes a test wants, for the protocol's bad-input cases.</summary>
public sealed class RawPgClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private Stream _stream;

    private RawPgClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static async Task<RawPgClient> ConnectAsync(int port)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port);
        return new RawPgClient(tcp);
    }

    /// <summary>TLS as libpq does it (SSLRequest, then the handshake), or directly with ALPN "postgresql".</summary>
    public async Task StartTlsAsync(X509Certificate2 root, bool direct = false)
    {
        if (!direct)
        {
            await SendAsync(PgWire.Code(PgWire.SslRequestCode));
            Assert.Equal((byte)'S', await ReadByteAsync());
        }

        var tls = new SslStream(_stream, false, HoopTestHost.TrustOnly(root));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [PostgresListener.Alpn],
        });
        _stream = tls;
    }

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>One byte: the server's answer to an SSLRequest or GSSENCRequest.</summary>
    public async Task<byte> ReadByteAsync()
    {
        var answer = new byte[1];
        await _stream.ReadExactlyAsync(answer);
        return answer[0];
    }

    public static byte[] Startup(params (string Name, string Value)[] parameters) =>
        PgWire.Startup(parameters.ToDictionary(p => p.Name, p => p.Value));

    /// <summary>Startup as 'agent' to <paramref name="database"/>, the token as password, up to ReadyForQuery.</summary>
    public async Task LoginAsync(string token, string database = "ledger")
    {
        await SendAsync(Startup(("user", "agent"), ("database", database)));
        var request = await ReadAsync();
        Assert.Equal('R', request.Type);
        await SendAsync(PgWire.Password(Encoding.UTF8.GetBytes(token + "\0")));
        while ((await ReadAsync()).Type != 'Z')
        {
        }
    }

    /// <summary>The next message; type '\0' when the connection ended. Waits 15 s unless told otherwise, then throws.</summary>
    public async Task<(char Type, byte[] Body)> ReadAsync(TimeSpan? patience = null)
    {
        using var timeout = new CancellationTokenSource(patience ?? TimeSpan.FromSeconds(15));
        var header = new byte[5];
        try
        {
            await _stream.ReadExactlyAsync(header, timeout.Token);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException)
        {
            return ('\0', []);
        }

        var body = new byte[BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(1)) - 4];
        await _stream.ReadExactlyAsync(body, timeout.Token);
        return ((char)header[0], body);
    }

    /// <summary>Reads until the server closes the connection; returns the SQLSTATE and message of the error it sent.</summary>
    public async Task<(string SqlState, string Message)> ErrorThenCloseAsync()
    {
        (string, string)? error = null;
        while (true)
        {
            var (type, body) = await ReadAsync();
            if (type == '\0')
            {
                Assert.NotNull(error);
                return error.Value;
            }

            if (type == 'E')
            {
                var fields = PgWire.Fields(body);
                error ??= (fields['C'], fields['M']);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
