using System.Net.Security;
using System.Security.Authentication;
using Hoop.Proxy.Certificates;
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
            listen.UseHttps(Tls(certificate));
            listeners.Add(ListenerKind.Console, listen);
        });

        kestrel.Listen(settings.BindAddress, settings.ProxyPort, listen =>
        {
            listen.Protocols = HttpProtocols.Http1AndHttp2;
            listen.UseHttps(Tls(certificate));
            listeners.Add(ListenerKind.Proxy, listen);
        });
    }

    /// <summary>TLS 1.2+ only; a plaintext client fails the handshake and gets no HTTP answer.</summary>
    private static TlsHandshakeCallbackOptions Tls(InboundCertificate certificate) => new()
    {
        HandshakeTimeout = TimeSpan.FromSeconds(10),
        OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificate.Context,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ApplicationProtocols = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11],
        }),
    };
}
