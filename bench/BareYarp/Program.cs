// Bare YARP, the yardstick for Hoop's HTTP data path: TLS in (HTTP/1.1 and HTTP/2), one route, one
// backend reached over TLS verified against the bench CA. Nothing else.
//   BareYarp <port> <backend url> <ca.pem> <server.pfx>
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

var port = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
var ca = X509CertificateLoader.LoadCertificateFromFile(args[2]);
var serverCertificate = X509CertificateLoader.LoadPkcs12FromFile(args[3], "");

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, listen =>
{
    listen.Protocols = HttpProtocols.Http1AndHttp2;
    listen.UseHttps(serverCertificate);
}));
builder.Services.AddReverseProxy()
    .LoadFromMemory(
        [new RouteConfig { RouteId = "all", ClusterId = "backend", Match = new RouteMatch { Path = "{**rest}" } }],
        [new ClusterConfig
        {
            ClusterId = "backend",
            Destinations = new Dictionary<string, DestinationConfig> { ["backend"] = new() { Address = args[1] } },
            HttpRequest = new ForwarderRequestConfig { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower },
        }])
    .ConfigureHttpClient((_, handler) => handler.SslOptions.RemoteCertificateValidationCallback = BenchCa.Trust(ca));

var app = builder.Build();
app.MapReverseProxy();
app.Run();
