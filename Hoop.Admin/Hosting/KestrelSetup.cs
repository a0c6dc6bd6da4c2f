using System.Net.Security;
using System.Security.Authentication;
using Hoop.Proxy.Certificates;
using Hoop.Proxy.Certificates.Acme;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Hoop.Admin.Hosting;

/// <summary>The TLS listeners. Every one takes its certificate from <see cref="InboundCertificate"/> per handshake.</summary>
internal static class KestrelSetup
{
    public static void Configure(KestrelServerOptions kestrel, HostSettings settings)
    {
        kestrel.AddServerHeader = false;
        var certificate = kestrel.ApplicationServices.GetRequiredService<InboundCertificate>();
        var listeners = kestrel.ApplicationServices.GetRequiredService<Listeners>();

        kestrel.Listen(settings.BindAddress, settings.ConsolePort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            listen.UseHttps(Tls(certificate, challenges: null));
            listeners.Add(ListenerKind.Console, listen);
        });

        // Both challenge listeners are always there: ACME may be switched on, or its challenge type changed, in the console.
        var challenges = kestrel.ApplicationServices.GetRequiredService<AcmeChallenges>();
        kestrel.Listen(settings.BindAddress, settings.ProxyPort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            listen.Use(next => PeekAlpn(next, challenges));
            listen.UseHttps(Tls(certificate, challenges));
            listeners.Add(ListenerKind.Proxy, listen);
        });

        kestrel.Listen(settings.BindAddress, settings.AcmeHttpPort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            listeners.Add(ListenerKind.AcmeHttp, listen);
        });
    }

    /// <summary>
    /// While a tls-alpn-01 validation is awaited, reads the ALPN list of the ClientHello without consuming it, so the
    /// certificate callback can tell the ACME server's handshake (which offers only acme-tls/1) from a client's.
    /// </summary>
    private static ConnectionDelegate PeekAlpn(ConnectionDelegate next, AcmeChallenges challenges) => async connection =>
    {
        if (!challenges.AwaitingTlsAlpn01)
        {
            await next(connection);
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var input = connection.Transport.Input;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(timeout.Token);
                var needed = ClientHello.RecordLength(result.Buffer);
                if (result.Buffer.Length >= needed || result.IsCompleted)
                {
                    var offered = ClientHello.TryReadAlpn(result.Buffer.Slice(0, Math.Min(result.Buffer.Length, needed)));
                    input.AdvanceTo(result.Buffer.Start);
                    if (offered is ["acme-tls/1"])
                    {
                        connection.Features.Set(new AcmeTlsAlpnHandshake());
                    }

                    break;
                }

                input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // Silent or gone before saying hello: nothing to serve, nothing worth an error log.
            connection.Abort();
            return;
        }

        await next(connection);
    };

    /// <summary>
    /// TLS 1.2+ only; a plaintext client fails the handshake and gets no HTTP answer. With <paramref name="challenges"/>,
    /// a handshake <see cref="PeekAlpn"/> marked as an ACME validation gets the tls-alpn-01 certificate instead.
    /// </summary>
    private static TlsHandshakeCallbackOptions Tls(InboundCertificate certificate, AcmeChallenges? challenges) => new()
    {
        HandshakeTimeout = TimeSpan.FromSeconds(10),
        OnConnection = context => ValueTask.FromResult(
            context.Connection.Features.Get<AcmeTlsAlpnHandshake>() is not null && challenges?.TlsAlpn01For(context.ClientHelloInfo.ServerName) is { } challenge
                ? new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = challenge,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    ApplicationProtocols = [AcmeChallenges.AcmeTls],
                }
                : Normal(certificate)),
    };

    private sealed class AcmeTlsAlpnHandshake;

    private static SslServerAuthenticationOptions Normal(InboundCertificate certificate) => new()
    {
        ServerCertificateContext = certificate.Context,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
    };
}
