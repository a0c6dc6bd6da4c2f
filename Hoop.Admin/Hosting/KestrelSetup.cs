using System.Net.Security;
using System.Security.Authentication;
using Hoop.Admin.Hosting.Settings;
using Hoop.Proxy.Certificates;
using Hoop.Proxy.Certificates.Acme;
using Hoop.Proxy.Limits;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Hoop.Admin.Hosting;

/// <summary>
/// The TLS listeners. Every one takes its certificate from <see cref="InboundCertificate"/> per handshake, and on every
/// one a source may have at most <see cref="ConnectionLimits.TlsMaxHandshakesPerSource"/> connections still in their TLS
/// handshake (<see cref="ConnectionLimits.HandshakeTimeout"/> each at most).
/// </summary>
internal static partial class KestrelSetup
{
    public static void Configure(KestrelServerOptions kestrel)
    {
        var settings = kestrel.ApplicationServices.GetRequiredService<HoopOptions>();
        kestrel.AddServerHeader = false;
        var certificate = kestrel.ApplicationServices.GetRequiredService<InboundCertificate>();
        var listeners = kestrel.ApplicationServices.GetRequiredService<Listeners>();
        var limits = kestrel.ApplicationServices.GetRequiredService<ConnectionLimits>();
        var log = kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(KestrelSetup).FullName!);
        var clock = kestrel.ApplicationServices.GetRequiredService<TimeProvider>();

        kestrel.Listen(settings.BindIPAddress, settings.ConsolePort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            UseHttps(listen, Tls(certificate, challenges: null, limits), new Handshakes(limits, "console", log, clock));
            listeners.Add(ListenerKind.Console, listen);
        });

        // Both challenge listeners are always there: ACME may be switched on, or its challenge type changed, in the console.
        var challenges = kestrel.ApplicationServices.GetRequiredService<AcmeChallenges>();
        kestrel.Listen(settings.BindIPAddress, settings.ProxyPort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            var handshakes = new Handshakes(limits, "proxy", log, clock);
            listen.Use(next => handshakes.Admit(next));
            listen.Use(next => PeekAlpn(next, challenges));
            listen.UseHttps(Tls(certificate, challenges, limits));
            listen.Use(next => Handshakes.Done(next));
            listeners.Add(ListenerKind.Proxy, listen);
        });

        kestrel.Listen(settings.BindIPAddress, settings.AcmeHttpPort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1;
            listeners.Add(ListenerKind.AcmeHttp, listen);
        });
    }

    /// <summary>TLS with the per-source cap on handshakes in progress around it.</summary>
    private static void UseHttps(ListenOptions listen, TlsHandshakeCallbackOptions tls, Handshakes handshakes)
    {
        listen.Use(next => handshakes.Admit(next));
        listen.UseHttps(tls);
        listen.Use(next => Handshakes.Done(next));
    }

    /// <summary>
    /// One port's connections still in their TLS handshake, per source. The middleware before TLS takes a place (or
    /// closes the connection at once: before TLS there is no way to say why); the one after TLS, which runs once the
    /// handshake is complete, gives it back. A failed or timed-out handshake gives it back as the connection ends.
    /// </summary>
    private sealed partial class Handshakes(ConnectionLimits limits, string port, ILogger log, TimeProvider clock)
    {
        // Per source only: an overall cap would let many sources together lock everyone out.
        private readonly StartingConnections _starting = new(limits.TlsMaxHandshakesPerSource, int.MaxValue);
        private readonly Hoop.Data.Audit.Throttle _refusalLog = new(TimeSpan.FromMinutes(1));

        public ConnectionDelegate Admit(ConnectionDelegate next) => async connection =>
        {
            var source = SourceAddress.Of(connection.RemoteEndPoint);
            if (_starting.TryEnter(source, out var place) != StartingRefusal.None)
            {
                if (_refusalLog.TryTake(clock.GetUtcNow()))
                {
                    LogTooManyHandshakes(log, port, limits.TlsMaxHandshakesPerSource, source);
                }

                connection.Abort();
                return;
            }

            connection.Features.Set(place!);
            try
            {
                await next(connection);
            }
            finally
            {
                place!.Leave();
            }
        };

        public static ConnectionDelegate Done(ConnectionDelegate next) => connection =>
        {
            connection.Features.Get<StartingConnections.Place>()?.Leave();
            return next(connection);
        };

        [LoggerMessage(4030, LogLevel.Warning, "TLS connections refused on the {Port} port: more than {Max} were in their handshake at once from {Source}")]
        private static partial void LogTooManyHandshakes(ILogger logger, string port, int max, string source);
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
    /// a handshake <see cref="PeekAlpn"/> marked as an ACME validation gets the tls-alpn-01 certificate instead. A
    /// handshake before the first certificate is installed (the ports open before start-up is done) waits for it.
    /// </summary>
    private static TlsHandshakeCallbackOptions Tls(InboundCertificate certificate, AcmeChallenges? challenges, ConnectionLimits limits) => new()
    {
        HandshakeTimeout = limits.HandshakeTimeout,
        OnConnection = context =>
            context.Connection.Features.Get<AcmeTlsAlpnHandshake>() is not null && challenges?.TlsAlpn01For(context.ClientHelloInfo.ServerName) is { } challenge
                ? ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = challenge,
                    EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                    ApplicationProtocols = [AcmeChallenges.AcmeTls],
                })
                : certificate.FirstInstalled.IsCompleted ? ValueTask.FromResult(Normal(certificate))
                : NormalOnceInstalledAsync(certificate, context.CancellationToken),
    };

    private static async ValueTask<SslServerAuthenticationOptions> NormalOnceInstalledAsync(InboundCertificate certificate, CancellationToken cancellationToken)
    {
        await certificate.FirstInstalled.WaitAsync(cancellationToken);
        return Normal(certificate);
    }

    private sealed class AcmeTlsAlpnHandshake;

    private static SslServerAuthenticationOptions Normal(InboundCertificate certificate) => new()
    {
        ServerCertificateContext = certificate.Context,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
    };
}
