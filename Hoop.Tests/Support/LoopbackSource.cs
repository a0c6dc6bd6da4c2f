using System.Net;
using System.Net.Sockets;

namespace Hoop.Tests.Support;

/// <summary>
/// Clients from another address of the loopback range (all of 127.0.0.0/8 is this machine), so a test can be a
/// flooding source and still show that 127.0.0.1 is served.
/// </summary>
public static class LoopbackSource
{
    /// <summary>A TCP connection from <paramref name="from"/> (such as "127.0.0.2") to 127.0.0.1:<paramref name="port"/>.</summary>
    public static async Task<Socket> ConnectAsync(string from, int port, CancellationToken cancellationToken = default)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
            await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <paramref name="count"/> attempts from <paramref name="from"/> at connections that send nothing: the open ones,
    /// and how many the server reset before the connect even completed.
    /// </summary>
    public static async Task<(List<Socket> Open, int ResetAtOnce)> FloodAsync(string from, int port, int count)
    {
        var sockets = new List<Socket>(count);
        var reset = 0;
        for (var i = 0; i < count; i++)
        {
            try
            {
                sockets.Add(await ConnectAsync(from, port));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                reset++;
            }
        }

        return (sockets, reset);
    }

    /// <summary>True when the server closed (or reset) the connection within <paramref name="patience"/>.</summary>
    public static async Task<bool> ClosedByServerAsync(Socket socket, TimeSpan patience)
    {
        using var timeout = new CancellationTokenSource(patience);
        try
        {
            var buffer = new byte[256];
            while (true)
            {
                if (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) == 0)
                {
                    return true;
                }
            }
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Connects from <paramref name="from"/> and says nothing: true when the server resets or closes the connection within three seconds.</summary>
    public static async Task<bool> ClosedAtOnceAsync(string from, int port)
    {
        Socket socket;
        try
        {
            socket = await ConnectAsync(from, port);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }

        using (socket)
        {
            return await ClosedByServerAsync(socket, TimeSpan.FromSeconds(3));
        }
    }

    /// <summary>An HTTP client whose connections come from <paramref name="from"/> to 127.0.0.1:<paramref name="port"/>, trusting <paramref name="callback"/>.</summary>
    public static HttpClient HttpClient(string from, int port, Uri baseAddress, System.Net.Security.RemoteCertificateValidationCallback callback,
        CookieContainer? cookies = null) =>
        new(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = cookies is not null,
            CookieContainer = cookies ?? new CookieContainer(),
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions { RemoteCertificateValidationCallback = callback },
            ConnectCallback = async (_, cancellationToken) => new NetworkStream(await ConnectAsync(from, port, cancellationToken), ownsSocket: true),
        })
        { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
}
