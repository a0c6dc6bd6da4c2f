using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Text;
using Hoop.Data.Entities;
using Hoop.Proxy.Model;
using Hoop.Proxy.Upstream;

namespace Hoop.Proxy.Postgres;

/// <summary>Hoop could not open its session with the database; the message is safe to show the agent.</summary>
internal sealed class PgBackendException(string message) : Exception(message);

/// <summary>
/// Hoop's own session with the real database: TCP, TLS verified as the connection says, startup as the stored
/// user, and authentication with the stored password (SCRAM-SHA-256, MD5, cleartext or trust, as the server asks).
/// The agent's credential is never sent.
/// </summary>
public sealed class PgBackend : IAsyncDisposable
{
    private readonly Stream _stream;

    private PgBackend(Stream stream, string tls)
    {
        _stream = stream;
        Tls = tls;
        Reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, minimumReadSize: 4 * 1024));
        Writer = PipeWriter.Create(stream);
    }

    public PipeReader Reader { get; }
    public PipeWriter Writer { get; }

    /// <summary>The negotiated TLS of this hop, for the recording.</summary>
    public string Tls { get; }

    /// <summary>The server's ParameterStatus values at the end of startup.</summary>
    public Dictionary<string, string> Parameters { get; } = new(StringComparer.Ordinal);

    public int ProcessId { get; private set; }
    public int Secret { get; private set; }

    /// <summary>The database on the server: the path of the address (host:port/database), else the user's own.</summary>
    public static string DatabaseOf(ConnectionPolicy connection) =>
        connection.Address.AbsolutePath.Trim('/') is { Length: > 0 } path ? Uri.UnescapeDataString(path) : connection.CredentialName ?? "postgres";

    /// <summary>Connects and authenticates; <paramref name="parameters"/> are the agent's session settings to pass on.</summary>
    public static async Task<PgBackend> OpenAsync(ConnectionPolicy connection, IReadOnlyDictionary<string, string> parameters, CancellationToken cancellationToken)
    {
        var backend = await ConnectAsync(connection, cancellationToken);
        try
        {
            var startup = new Dictionary<string, string>(parameters, StringComparer.Ordinal)
            {
                ["user"] = connection.CredentialName ?? "postgres",
                ["database"] = DatabaseOf(connection),
            };
            await backend.Writer.WriteAsync(PgWire.Startup(startup), cancellationToken);
            await backend.AuthenticateAsync(connection, cancellationToken);
            return backend;
        }
        catch
        {
            await backend.DisposeAsync();
            throw;
        }
    }

    /// <summary>Forwards an agent's cancel request for this backend process, on a connection of its own.</summary>
    public static async Task CancelAsync(ConnectionPolicy connection, int processId, int secret, CancellationToken cancellationToken)
    {
        await using var backend = await ConnectAsync(connection, cancellationToken);
        await backend.Writer.WriteAsync(PgWire.Cancel(processId, secret), cancellationToken);
        // The server closes the connection once it has read the request.
        await backend.Reader.ReadAsync(cancellationToken);
    }

    private static async Task<PgBackend> ConnectAsync(ConnectionPolicy connection, CancellationToken cancellationToken)
    {
        var host = connection.Address.Host;
        var port = connection.Address.IsDefaultPort || connection.Address.Port < 0 ? 5432 : connection.Address.Port;
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(host, port, cancellationToken);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new PgBackendException(e.SocketErrorCode == SocketError.ConnectionRefused
                ? $"the database server of '{connection.Name}' refused the connection"
                : $"the database server of '{connection.Name}' could not be reached");
        }

        Stream stream = new NetworkStream(socket, ownsSocket: true);
        if (connection.TlsVerification == TlsVerification.Plaintext)
        {
            return new PgBackend(stream, "none (plaintext, set by an admin)");
        }

        try
        {
            await stream.WriteAsync(PgWire.Code(PgWire.SslRequestCode).AsMemory(), cancellationToken);
            var answer = new byte[1];
            if (await stream.ReadAsync(answer, cancellationToken) != 1 || answer[0] != (byte)'S')
            {
                throw new PgBackendException($"the database server of '{connection.Name}' does not offer TLS; only an admin can allow plaintext");
            }

            string? failure = null;
            var tls = new SslStream(stream, leaveInnerStreamOpen: false, (_, certificate, chain, errors) =>
            {
                failure = BackendCertificate.Verify(connection, certificate, chain, errors);
                return failure is null;
            });
            stream = tls;
            try
            {
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = host,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                }, cancellationToken);
            }
            catch (AuthenticationException)
            {
                throw new PgBackendException($"TLS to the database of '{connection.Name}' failed: {failure ?? "the handshake did not complete"}");
            }

            return new PgBackend(tls, $"{tls.SslProtocol} {tls.NegotiatedCipherSuite}");
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            await stream.DisposeAsync();
            throw new PgBackendException($"the database server of '{connection.Name}' broke off the connection during TLS set-up");
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <summary>Answers the server's authentication requests, then reads its parameters and key up to ReadyForQuery.</summary>
    private async Task AuthenticateAsync(ConnectionPolicy connection, CancellationToken cancellationToken)
    {
        var user = connection.CredentialName ?? "postgres";
        var password = connection.CredentialSecret ?? "";
        // The password itself (cleartext) or a replayable hash of it (MD5) goes only to a server whose identity TLS proved.
        var verified = connection.TlsVerification is not (TlsVerification.Unverified or TlsVerification.Plaintext);
        Scram? scram = null;
        var serverProved = false;
        while (true)
        {
            var message = await PgWire.ReadMessageAsync(Reader, cancellationToken, PgWire.MaxAuthenticationBytes)
                ?? throw new PgBackendException($"the database server of '{connection.Name}' closed the connection during start-up");
            var (type, body) = message;
            switch ((BackendMessage)type)
            {
                case BackendMessage.Authentication:
                    var reader = new PgReader(body);
                    switch (reader.Int32())
                    {
                        case 0 when scram is not null && !serverProved:
                            throw new PgBackendException($"the database server of '{connection.Name}' ended SCRAM without proving it knows the password");
                        case 0:
                            break;
                        case 3 or 5 when !verified:
                            throw new PgBackendException(
                                $"the database server of '{connection.Name}' asks for the password in a form anyone in between could use, and its TLS identity is not verified; use SCRAM or verified TLS");
                        case 3:
                            await SendAsync(PgWire.Password(Encoding.UTF8.GetBytes(password + "\0")), cancellationToken);
                            break;
                        case 5:
                            await SendAsync(PgWire.Password(Encoding.ASCII.GetBytes(Md5Password(user, password, reader.Bytes(4)) + "\0")), cancellationToken);
                            break;
                        case 10:
                            var mechanisms = new List<string>();
                            while (!reader.AtEnd && reader.CString() is { Length: > 0 } mechanism)
                            {
                                mechanisms.Add(mechanism);
                            }

                            if (!mechanisms.Contains("SCRAM-SHA-256"))
                            {
                                throw new PgBackendException($"the database server of '{connection.Name}' asks for {string.Join(", ", mechanisms)}, which Hoop does not speak");
                            }

                            scram = new Scram(password);
                            var first = Encoding.UTF8.GetBytes(scram.ClientFirst);
                            await SendAsync(new PgBuilder().CString("SCRAM-SHA-256").Int32(first.Length).Bytes(first).Message((byte)FrontendMessage.Password), cancellationToken);
                            break;
                        case 11 when scram is not null:
                            await SendAsync(PgWire.Password(Encoding.UTF8.GetBytes(scram.ClientFinal(Encoding.UTF8.GetString(reader.Rest())))), cancellationToken);
                            break;
                        case 12 when scram is not null:
                            if (!scram.Verify(Encoding.UTF8.GetString(reader.Rest())))
                            {
                                throw new PgBackendException($"the database server of '{connection.Name}' failed to prove it knows the password (SCRAM server signature)");
                            }

                            serverProved = true;
                            break;
                        case var other:
                            throw new PgBackendException($"the database server of '{connection.Name}' asks for an authentication method Hoop does not speak ({other})");
                    }

                    break;
                case BackendMessage.ParameterStatus:
                    var parameter = new PgReader(body);
                    Parameters[parameter.CString()] = parameter.CString();
                    break;
                case BackendMessage.BackendKeyData:
                    var key = new PgReader(body);
                    ProcessId = key.Int32();
                    Secret = key.Int32();
                    break;
                case BackendMessage.ReadyForQuery:
                    return;
                case BackendMessage.ErrorResponse:
                    var fields = PgWire.Fields(body);
                    throw new PgBackendException($"the database of '{connection.Name}' refused Hoop's session: {fields.GetValueOrDefault('M', "no message")}");
                case BackendMessage.NoticeResponse or BackendMessage.NegotiateProtocolVersion:
                    break;
                default:
                    throw new PgBackendException($"the database server of '{connection.Name}' sent an unexpected message during start-up");
            }
        }
    }

    private async Task SendAsync(byte[] message, CancellationToken cancellationToken) => await Writer.WriteAsync(message, cancellationToken);

    private static string Md5Password(string user, string password, ReadOnlySpan<byte> salt)
    {
        var inner = Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(password + user)));
        return "md5" + Convert.ToHexStringLower(MD5.HashData([.. Encoding.ASCII.GetBytes(inner), .. salt]));
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            // Briefly: a database blocked on a full socket must not hold this session open forever.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await Writer.WriteAsync(PgWire.Terminate, timeout.Token);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            // Already gone.
        }

        await Reader.CompleteAsync();
        await Writer.CompleteAsync();
        await _stream.DisposeAsync();
    }

    /// <summary>The client side of SCRAM-SHA-256 (RFC 5802, 7677) without channel binding; the server must prove itself too.</summary>
    private sealed class Scram(string password)
    {
        private readonly string _clientNonce = Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
        private byte[]? _serverSignature;

        // PostgreSQL takes the user name from the startup packet, so the SCRAM one is empty.
        private string ClientFirstBare => $"n=,r={_clientNonce}";
        public string ClientFirst => "n,," + ClientFirstBare;

        public string ClientFinal(string serverFirst)
        {
            var fields = serverFirst.Split(',').Where(f => f.Length > 2 && f[1] == '=').ToDictionary(f => f[0], f => f[2..]);
            if (!fields.TryGetValue('r', out var nonce) || !nonce.StartsWith(_clientNonce, StringComparison.Ordinal)
                || !fields.TryGetValue('s', out var salt) || !fields.TryGetValue('i', out var iterationText)
                || !int.TryParse(iterationText, out var iterations) || iterations is < 1 or > 10_000_000)
            {
                throw new PgBackendException("the database server sent an invalid SCRAM challenge");
            }

            var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), Convert.FromBase64String(salt), iterations, HashAlgorithmName.SHA256, 32);
            var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
            var storedKey = SHA256.HashData(clientKey);
            var withoutProof = $"c=biws,r={nonce}";
            var authMessage = Encoding.UTF8.GetBytes($"{ClientFirstBare},{serverFirst},{withoutProof}");
            var signature = HMACSHA256.HashData(storedKey, authMessage);
            var proof = new byte[clientKey.Length];
            for (var i = 0; i < proof.Length; i++)
            {
                proof[i] = (byte)(clientKey[i] ^ signature[i]);
            }

            _serverSignature = HMACSHA256.HashData(HMACSHA256.HashData(salted, "Server Key"u8), authMessage);
            return $"{withoutProof},p={Convert.ToBase64String(proof)}";
        }

        public bool Verify(string serverFinal) =>
            _serverSignature is not null && serverFinal.StartsWith("v=", StringComparison.Ordinal)
            && CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(serverFinal[2..].Split(',')[0]), _serverSignature);
    }
}
