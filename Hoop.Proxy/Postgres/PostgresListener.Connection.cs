using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Hoop.Data.Entities;
using Hoop.Proxy.Admission;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Limits;

namespace Hoop.Proxy.Postgres;

/// <summary>One agent connection: TLS (after SSLRequest, or direct), a cancel request, or start-up, authentication and admission, then the relay.</summary>
public sealed partial class PostgresListener
{
    public static readonly SslApplicationProtocol Alpn = new("postgresql");

    private async Task OnConnectedAsync(Socket socket, NetworkStream network, StartingConnections.Place slot, CancellationToken closed)
    {
        var client = (socket.RemoteEndPoint as IPEndPoint)?.Address.ToString();
        // Wall-clock deadlines, as the client's are: from accept to being let in, and within it, to the first message
        // and then through the TLS handshake. A client that connects and says nothing is gone within seconds.
        using var startup = CancellationTokenSource.CreateLinkedTokenSource(closed);
        startup.CancelAfter(limits.StartupTimeout);
        using var opening = CancellationTokenSource.CreateLinkedTokenSource(startup.Token);
        opening.CancelAfter(limits.FirstBytesTimeout);
        SslStream? tls = null;
        try
        {
            tls = await NegotiateTlsAsync(socket, network, client, opening);
            if (tls is null)
            {
                return;
            }

            var reader = PipeReader.Create(tls, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024));
            var writer = PipeWriter.Create(tls);
            try
            {
                await StartAsync(reader, writer, tls, client, slot, startup, closed);
            }
            catch (PgProtocolException e)
            {
                await TryWriteAsync(writer, PgWire.Error("FATAL", e.SqlState, e.Message));
            }
            finally
            {
                await reader.CompleteAsync();
                await writer.CompleteAsync();
            }
        }
        catch (PgProtocolException e)
        {
            // Before TLS: the answer goes out in plaintext, as PostgreSQL's own would.
            await TryWriteAsync(network, PgWire.Error("FATAL", e.SqlState, e.Message));
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or AuthenticationException or SocketException)
        {
            // Gone, silent past the start-up time, or a failed handshake: nothing to answer.
        }
        finally
        {
            if (tls is not null)
            {
                await tls.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Reads what the client sends in plaintext and returns the TLS stream, or null when the connection was a cancel
    /// request or was refused. Plaintext startup: 28000 "SSL required".
    /// </summary>
    private async Task<SslStream?> NegotiateTlsAsync(Socket socket, NetworkStream network, string? client, CancellationTokenSource opening)
    {
        var cancellationToken = opening.Token;
        // A peek, not a read: a direct TLS handshake's first byte belongs to the handshake.
        var first = new byte[1];
        if (await socket.ReceiveAsync(first, SocketFlags.Peek, cancellationToken) == 0)
        {
            return null;
        }

        var direct = first[0] == 0x16; // A TLS handshake record: PostgreSQL 17's sslnegotiation=direct.
        var gssAnswered = false;
        while (!direct)
        {
            if (await PgWire.ReadStartupAsync(network, cancellationToken) is not var (code, body))
            {
                return null;
            }

            if (code == PgWire.SslRequestCode)
            {
                await network.WriteAsync("S"u8.ToArray(), cancellationToken);
                break;
            }

            if (code == PgWire.GssEncRequestCode && !gssAnswered)
            {
                // No GSSAPI encryption here; libpq then asks for TLS.
                await network.WriteAsync("N"u8.ToArray(), cancellationToken);
                gssAnswered = true;
                continue;
            }

            if (code == PgWire.CancelRequestCode)
            {
                await CancelAsync(body, cancellationToken);
                return null;
            }

            if (code >> 16 == 3)
            {
                Audit("anonymous", "postgres.plaintext-refused", "", AuditOutcome.Denied, new { client });
                throw new PgProtocolException("28000", "SSL required: Hoop accepts Postgres connections over TLS only (sslmode=require or verify-full)");
            }

            throw new PgProtocolException("08P01", code == PgWire.GssEncRequestCode ? "a second GSSENCRequest" : $"unsupported frontend protocol {code >> 16}.{code & 0xffff}");
        }

        // The first message is in: the handshake has a deadline of its own.
        opening.CancelAfter(limits.HandshakeTimeout);
        var tls = new SslStream(network, leaveInnerStreamOpen: true);
        await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificate.Context,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ApplicationProtocols = [Alpn],
        }, cancellationToken);
        if (direct && tls.NegotiatedApplicationProtocol != Alpn)
        {
            // PostgreSQL requires the ALPN of direct TLS, so a TLS client of another protocol cannot be confused with it.
            await tls.DisposeAsync();
            return null;
        }

        return tls;
    }

    private async Task CancelAsync(byte[] body, CancellationToken cancellationToken)
    {
        if (body.Length < 8)
        {
            return;
        }

        var reader = new PgReader(body);
        if (cancels.Find(reader.Int32(), reader.Int32()) is { } target)
        {
            try
            {
                await PgBackend.CancelAsync(target.Connection, target.ProcessId, target.Secret, cancellationToken);
                LogCancelled(target.Connection.Name);
            }
            catch (Exception e) when (e is PgBackendException or IOException or OperationCanceledException)
            {
                LogCancelFailed(target.Connection.Name, e.Message);
            }
        }
    }

    /// <summary>Startup, authentication, the backend session, then the relay until either side ends.</summary>
    private async Task StartAsync(PipeReader reader, PipeWriter writer, SslStream tls, string? client, StartingConnections.Place slot, CancellationTokenSource startup,
        CancellationToken closed)
    {
        var token = startup.Token;
        var (code, body) = await PgWire.ReadStartupAsync(reader, token) ?? throw new OperationCanceledException();
        if (code == PgWire.CancelRequestCode)
        {
            await CancelAsync(body, token);
            return;
        }

        if (code is PgWire.SslRequestCode or PgWire.GssEncRequestCode)
        {
            throw new PgProtocolException("08P01", "an SSLRequest or GSSENCRequest inside TLS");
        }

        if (code >> 16 != 3)
        {
            throw new PgProtocolException("08P01", $"unsupported frontend protocol {code >> 16}.{code & 0xffff}: Hoop speaks 3.0");
        }

        var parameters = PgWire.StartupParameters(body);
        if (parameters.ContainsKey("replication"))
        {
            throw new PgProtocolException("08P01", "replication connections are not served through Hoop");
        }

        if (parameters.ContainsKey("standard_conforming_strings"))
        {
            throw new PgProtocolException("0A000", "standard_conforming_strings cannot be set through Hoop: its guardrails read SQL strings with the setting on");
        }

        if (parameters.ContainsKey("options"))
        {
            throw new PgProtocolException("08P01", "startup 'options' (command-line settings for the server) are not passed through Hoop; use SET after connecting");
        }

        var protocolOptions = parameters.Keys.Where(k => k.StartsWith("_pq_.", StringComparison.Ordinal)).ToList();
        if ((code & 0xffff) != 0 || protocolOptions.Count > 0)
        {
            await writer.WriteAsync(PgWire.NegotiateProtocolVersion(0, protocolOptions), token);
        }

        if (!parameters.TryGetValue("user", out var user) || user.Length == 0)
        {
            throw new PgProtocolException("28000", "no user name in the startup packet");
        }

        var database = parameters.GetValueOrDefault("database") is { Length: > 0 } named ? named : user;

        // The agent's credential, asked for in cleartext: it travels inside TLS, and it is a token, not a password.
        await writer.WriteAsync(PgWire.Authentication(3), token);
        var password = await PgWire.ReadMessageAsync(reader, token, PgWire.MaxAuthenticationBytes) ?? throw new OperationCanceledException();
        if (password.Type != (byte)'p')
        {
            throw new PgProtocolException("08P01", $"expected a password message, got message type '{(char)password.Type}'");
        }

        var credential = new PgReader(password.Body).CString();
        var snapshot = policy.Current;
        var (caller, failure) = credential.Length == 0
            ? (null, new AuthenticationFailure("the password is empty; give an OIDC access token or a Hoop API key as the password"))
            : await callers.IdentifyAsync(credential, snapshot, token);
        if (caller is null)
        {
            var refusal = admissions.Unauthenticated("postgres", database, failure!.Reason, new { reason = failure.Reason, user, client });
            throw new PgProtocolException("28P01", $"password authentication failed for user \"{user}\": {refusal.Reason}");
        }

        if (!snapshot.Connections.TryGetValue(database, out var connection) || connection.Kind != ConnectionKind.Postgres)
        {
            Audit(caller.Subject, "postgres.unknown-connection", database, AuditOutcome.Denied, new { user, client });
            throw new PgProtocolException("3D000", $"Hoop has no Postgres connection named \"{database}\" (the database name chooses the connection)");
        }

        var (session, denied) = await admissions.AdmitAsync("postgres", caller, connection, snapshot, client, ownSession: true, token);
        if (denied is not null)
        {
            throw denied.Kind == RefusalKind.Forbidden
                ? new PgProtocolException("28000", $"not allowed: {denied.Reason}")
                : new PgProtocolException("57P03", denied.Reason);
        }

        slot.Leave(); // Allowed in: no longer among the connections that are starting.

        var endReason = "The agent closed the connection.";
        try
        {
            PgBackend backend;
            try
            {
                backend = await PgBackend.OpenAsync(connection, BackendParameters(parameters), token);
            }
            catch (Exception e) when (e is PgBackendException or PgProtocolException or IOException or FormatException)
            {
                var error = e is PgBackendException ? e.Message : $"the database server of '{connection.Name}' broke the protocol during start-up";
                endReason = $"Backend unavailable: {error}.";
                Audit(caller.Subject, "postgres.backend-error", connection.Name, AuditOutcome.Failed, new { error });
                throw new PgProtocolException("08001", $"Hoop could not open the database session: {error}");
            }

            await using (backend)
            {
                if (backend.Parameters.GetValueOrDefault("standard_conforming_strings") != "on")
                {
                    // A role or database default turned it off: Hoop's reading of SQL strings would not be the database's.
                    endReason = "The database's standard_conforming_strings is off.";
                    throw new PgProtocolException("0A000",
                        $"the database of '{connection.Name}' has standard_conforming_strings off, which Hoop does not serve (its guardrails read SQL strings with it on)");
                }

                var (processId, secret) = cancels.Register(connection, backend.ProcessId, backend.Secret);
                try
                {
                    var hello = new List<byte[]> { PgWire.Authentication(0) };
                    hello.AddRange(backend.Parameters.Select(p => new PgBuilder().CString(p.Key).CString(p.Value).Message((byte)'S')));
                    hello.Add(PgWire.BackendKeyData(processId, secret));
                    hello.Add(new PgBuilder().Byte((byte)'I').Message((byte)'Z'));
                    foreach (var message in hello)
                    {
                        writer.Write(message);
                    }

                    await writer.FlushAsync(token);
                    LogSessionStarted(caller.Subject, connection.Name);
                    var inbound = $"{tls.SslProtocol} {tls.NegotiatedCipherSuite}";
                    var relay = new PgRelay(relayServices, caller, connection, session, snapshot, reader, writer, backend, inbound);
                    endReason = await relay.RunAsync(closed);
                }
                finally
                {
                    cancels.Remove(processId, secret);
                }
            }
        }
        finally
        {
            if (session is not null)
            {
                sessions.End(session, endReason);
            }
        }
    }

    /// <summary>
    /// The agent's session settings for the database: its own, except who and where (Hoop decides) and the client
    /// encoding, which is UTF8 so that masking and guardrails read what the database reads.
    /// </summary>
    private static Dictionary<string, string> BackendParameters(Dictionary<string, string> agent)
    {
        var forwarded = agent.Where(p => p.Key is not ("user" or "database") && !p.Key.StartsWith("_pq_.", StringComparison.Ordinal))
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        forwarded["client_encoding"] = "UTF8";
        return forwarded;
    }

    private static async Task TryWriteAsync(PipeWriter writer, byte[] message)
    {
        try
        {
            await writer.WriteAsync(message);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException or OperationCanceledException)
        {
            // The client is gone already.
        }
    }

    private static async Task TryWriteAsync(Stream stream, byte[] message)
    {
        try
        {
            await stream.WriteAsync(message);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException or OperationCanceledException)
        {
            // The client is gone already.
        }
    }
}
