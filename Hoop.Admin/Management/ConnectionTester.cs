using System.Buffers.Binary;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Hoop.Data.Entities;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Upstream;

namespace Hoop.Admin.Management;

/// <summary>
/// The console's Test button: from the gateway, can the backend be reached, and does its TLS pass the connection's
/// verification exactly as the data path would check it? Sends no credential and no request.
/// </summary>
public sealed class ConnectionTester(PolicyStore policy)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public sealed record Outcome(bool Ok, string Message);

    public async Task<Outcome> TestAsync(string name, CancellationToken cancellationToken)
    {
        await policy.RefreshAsync(cancellationToken);
        if (!policy.Current.Connections.TryGetValue(name, out var connection))
        {
            return new(false, $"'{name}' is not in the live policy (a secret or CA bundle that cannot be read? see Logs).");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        var host = connection.Address.Host;
        var port = connection.Address.IsDefaultPort && connection.Kind == ConnectionKind.Http
            ? (connection.Address.Scheme == Uri.UriSchemeHttps ? 443 : 80)
            : connection.Address.Port;
        using var tcp = new TcpClient();
        try
        {
            await tcp.ConnectAsync(host, port, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return new(false, $"{host}:{port} cannot be reached from the gateway ({(e is SocketException s ? s.SocketErrorCode.ToString() : "timed out")}).");
        }

        if (connection.TlsVerification == TlsVerification.Plaintext)
        {
            return new(true, $"{host}:{port} is reachable. Plaintext: nothing is encrypted between Hoop and this backend.");
        }

        var stream = tcp.GetStream();
        try
        {
            if (connection.Kind == ConnectionKind.Postgres && !await AsksForTlsAsync(stream, timeout.Token))
            {
                return new(false, $"{host}:{port} is reachable but does not offer TLS.");
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            return new(false, $"{host}:{port} accepted the connection but did not answer the TLS request ({(e is IOException ? e.Message : "timed out")}).");
        }

        string? failure = null;
        await using var tls = new SslStream(stream, leaveInnerStreamOpen: false, (_, certificate, chain, errors) =>
        {
            failure = BackendCertificate.Verify(connection, certificate, chain, errors);
            return failure is null;
        });
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = host,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificates = connection.ClientCertificate is { } c ? [c] : null,
            }, timeout.Token);
        }
        catch (Exception e) when (e is AuthenticationException or IOException or OperationCanceledException)
        {
            return new(false, failure is null ? $"The TLS handshake with {host}:{port} failed ({e.Message})." : $"TLS refused: {failure}.");
        }

        using var presented = tls.RemoteCertificate is { } r ? new X509Certificate2(r) : null;
        var verification = connection.TlsVerification == TlsVerification.Unverified ? "NOT verified (Unverified mode)" : "verified";
        return new(true, $"{host}:{port} is reachable: {tls.SslProtocol}, certificate {presented?.Subject} {verification}.");
    }

    /// <summary>Postgres starts TLS in-band: an SSLRequest, answered 'S' (go ahead) or 'N'.</summary>
    private static async Task<bool> AsksForTlsAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var request = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(request, 8);
        BinaryPrimitives.WriteInt32BigEndian(request.AsSpan(4), 80877103);
        await stream.WriteAsync(request, cancellationToken);
        var answer = new byte[1];
        return await stream.ReadAsync(answer, cancellationToken) == 1 && answer[0] == (byte)'S';
    }
}
