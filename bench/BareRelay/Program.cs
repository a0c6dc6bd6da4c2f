// A bare .NET TLS relay for Postgres, the yardstick bench/postgres.sh measures Hoop's Postgres port against:
// the agent's SSLRequest answered and TLS terminated with the bench certificate, TLS to the database verified
// against the bench CA, then bytes copied both ways untouched (start-up and SCRAM are the database's own).
// No parsing, no policy, no recording: what any .NET proxy built on SslStream pays at least.
//   BareRelay <port> <database host:port> <ca.pem> <server.pfx>
using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

var port = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
var database = IPEndPoint.Parse(args[1]);
var ca = X509CertificateLoader.LoadCertificateFromFile(args[2]);
var certificate = X509CertificateLoader.LoadPkcs12FromFile(args[3], "");
var sslRequest = Request(80877103);
var gssEncRequest = Request(80877104);

using var listener = new Socket(SocketType.Stream, ProtocolType.Tcp);
listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
listener.Listen(512);
Console.WriteLine("bare-relay ready");
while (true)
{
    var client = await listener.AcceptAsync();
    client.NoDelay = true;
    _ = Task.Run(() => RelayAsync(client));
}

async Task RelayAsync(Socket client)
{
    try
    {
        await using var agentStream = new NetworkStream(client, ownsSocket: true);
        var request = new byte[8];
        await agentStream.ReadExactlyAsync(request);
        if (request.AsSpan().SequenceEqual(gssEncRequest))
        {
            // No GSSAPI encryption here; the client goes on with an SSLRequest.
            await agentStream.WriteAsync("N"u8.ToArray());
            await agentStream.ReadExactlyAsync(request);
        }

        if (!request.AsSpan().SequenceEqual(sslRequest))
        {
            return;
        }

        await agentStream.WriteAsync("S"u8.ToArray());
        await using var agent = new SslStream(agentStream);
        await agent.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate });

        using var server = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await server.ConnectAsync(database);
        await using var serverStream = new NetworkStream(server, ownsSocket: true);
        await serverStream.WriteAsync(sslRequest);
        var answer = new byte[1];
        await serverStream.ReadExactlyAsync(answer);
        if (answer[0] != 'S')
        {
            return; // The database does not speak TLS: nothing to measure.
        }

        await using var backend = new SslStream(serverStream);
        await backend.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = BenchCa.Trust(ca),
        });

        await Task.WhenAny(agent.CopyToAsync(backend, 16 * 1024), backend.CopyToAsync(agent, 16 * 1024));
    }
    catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException)
    {
        // One connection failed; the relay serves the others.
    }
}

static byte[] Request(int code)
{
    var request = new byte[8];
    BinaryPrimitives.WriteInt32BigEndian(request, 8);
    BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), code);
    return request;
}
