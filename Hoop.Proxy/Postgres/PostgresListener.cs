using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Admission;
using Hoop.Proxy.Certificates;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Limits;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Recording;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Postgres;

/// <summary>Where the Postgres port listens (Hoop:BindAddress, Hoop:PostgresPort).</summary>
public sealed record PostgresEndpoint(IPEndPoint EndPoint);

/// <summary>
/// The Postgres port's front door: TLS first (SSLRequest answered 'S', or direct TLS with ALPN "postgresql"; a
/// plaintext startup is refused), then the startup packet, the agent's token or API key as its password, the
/// connection named by the database, Hoop's own session with the database, and the relay (<see cref="PgRelay"/>).
/// </summary>
/// <remarks>
/// A socket of its own rather than a Kestrel endpoint: the relay reads and writes the sockets directly, without
/// the transport's pipes and the thread hand-offs they cost on every message of a chatty protocol.
/// </remarks>
public sealed partial class PostgresListener(
    PostgresEndpoint endpoint,
    PolicyStore policy,
    Callers callers,
    Admissions admissions,
    SessionTracker sessions,
    Recorder recorder,
    PgCancels cancels,
    PgRelayServices relayServices,
    InboundCertificate certificate,
    ConnectionLimits limits,
    AuditLog audit,
    TimeProvider time,
    ILogger<PostgresListener> logger) : BackgroundService
{
    private Socket? _socket;
    private readonly ConcurrentDictionary<Task, bool> _connections = new();

    /// <summary>
    /// Connections between accept and a caller allowed on a connection (TLS, startup, authentication), per source and
    /// in all. Each may take up to the start-up time; more than these are refused at once (53300), so clients that
    /// connect and never authenticate cannot tie up the port's memory and handshakes, and one source cannot take the
    /// places of every other.
    /// </summary>
    private readonly StartingConnections _starting = new(limits.PostgresMaxStartingPerSource, limits.PostgresMaxStarting);

    /// <summary>Refusals still saying why (up to two seconds each); past this many, a refused connection is just closed.</summary>
    private const int MaxRefusing = 64;

    private int _refusing;
    private readonly Throttle _refusalLog = new(TimeSpan.FromMinutes(1));

    /// <summary>Connections starting now (for tests).</summary>
    internal int Starting => _starting.Count;

    /// <summary>The bound port (valid once started; the configured port may be 0).</summary>
    public int Port => ((IPEndPoint)(_socket ?? throw new InvalidOperationException("The Postgres port is not bound yet.")).LocalEndPoint!).Port;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // Bound at start, so a port in use stops start-up and the bound port is known once the host has started.
        var socket = new Socket(endpoint.EndPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endpoint.EndPoint);
            socket.Listen(512);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new StartupException($"Hoop:PostgresPort: cannot listen on {endpoint.EndPoint}: {e.Message}");
        }

        _socket = socket;
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _socket!.AcceptAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (SocketException e)
            {
                LogAcceptFailed(e.SocketErrorCode.ToString());
                continue;
            }

            client.NoDelay = true;
            var source = SourceAddress.Of(client.RemoteEndPoint);
            var refusal = _starting.TryEnter(source, out var place);
            if (refusal != StartingRefusal.None)
            {
                _ = RefuseAsync(client, source, refusal);
                continue;
            }

            var task = ServeAsync(client, place!, stoppingToken);
            _connections[task] = true;
            _ = task.ContinueWith(t => _connections.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _socket?.Dispose();
        await base.StopAsync(cancellationToken);
        // Open sessions were cancelled with the stopping token; let them record how they ended.
        await Task.WhenAny(Task.WhenAll(_connections.Keys), Task.Delay(TimeSpan.FromSeconds(5), cancellationToken));
    }

    private async Task ServeAsync(Socket socket, StartingConnections.Place slot, CancellationToken stopping)
    {
        await Task.Yield();
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            await OnConnectedAsync(socket, stream, slot, stopping);
        }
        catch (Exception e)
        {
            // One broken connection must never take the port down.
            LogConnectionFailed(e);
        }
        finally
        {
            slot.Leave();
        }
    }

    /// <summary>Too many connections starting: says so in plaintext, as PostgreSQL would, and closes.</summary>
    private async Task RefuseAsync(Socket socket, string source, StartingRefusal refusal)
    {
        if (Interlocked.Increment(ref _refusing) > MaxRefusing)
        {
            // A flood: saying why to each would hold its sockets open; closing at once is the cheapest answer.
            Interlocked.Decrement(ref _refusing);
            socket.Dispose();
            LogRefusal(source, refusal);
            return;
        }

        using (socket)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                var message = refusal == StartingRefusal.TooManyFromSource
                    ? $"too many connections are starting from your address on Hoop's Postgres port at once (at most {_starting.MaxPerSource}); try again shortly"
                    : $"too many connections are starting on Hoop's Postgres port at once (at most {_starting.MaxInAll}); try again shortly";
                await socket.SendAsync(PgWire.Error("FATAL", "53300", message), SocketFlags.None, timeout.Token);
                // Read what the client sent before closing, so the close is not a reset that loses the error.
                socket.Shutdown(SocketShutdown.Send);
                var sink = new byte[512];
                while (await socket.ReceiveAsync(sink, SocketFlags.None, timeout.Token) > 0)
                {
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // Gone already.
            }
            finally
            {
                Interlocked.Decrement(ref _refusing);
            }
        }

        LogRefusal(source, refusal);
    }

    /// <summary>A flood is logged once a minute, not once a connection.</summary>
    private void LogRefusal(string source, StartingRefusal refusal)
    {
        if (!_refusalLog.TryTake(time.GetUtcNow()))
        {
            return;
        }

        if (refusal == StartingRefusal.TooManyFromSource)
        {
            LogTooManyFromSource(_starting.MaxPerSource, source);
        }
        else
        {
            LogTooManyStarting(_starting.MaxInAll);
        }
    }


    private void Audit(string actor, string action, string target, AuditOutcome outcome, object details) =>
        recorder.Enqueue(audit.Create(actor, action, target, outcome, details));

    [LoggerMessage(5020, LogLevel.Warning, "Postgres connections refused: more than {Max} were starting at once")]
    private partial void LogTooManyStarting(int max);

    [LoggerMessage(5021, LogLevel.Warning, "Postgres connections refused: more than {Max} were starting at once from {Source}")]
    private partial void LogTooManyFromSource(int max, string source);

    [LoggerMessage(5004, LogLevel.Warning, "Accepting a Postgres connection failed: {Error}")]
    private partial void LogAcceptFailed(string error);

    [LoggerMessage(5005, LogLevel.Error, "A Postgres connection failed unexpectedly")]
    private partial void LogConnectionFailed(Exception error);

    [LoggerMessage(5001, LogLevel.Debug, "Postgres session of {Subject} on {Connection} started")]
    private partial void LogSessionStarted(string subject, string connection);

    [LoggerMessage(5002, LogLevel.Information, "Cancel request sent to the database of {Connection}")]
    private partial void LogCancelled(string connection);

    [LoggerMessage(5003, LogLevel.Warning, "Cancel request for {Connection} could not be sent: {Reason}")]
    private partial void LogCancelFailed(string connection, string reason);
}
