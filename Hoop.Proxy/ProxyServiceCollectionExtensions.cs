using Hoop.Proxy.Certificates;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Proxy;

public static class ProxyServiceCollectionExtensions
{
    /// <summary>The data path: for now the inbound certificate and its bootstrap.</summary>
    public static IServiceCollection AddHoopProxy(this IServiceCollection services, CertificateOptions certificates)
    {
        services.AddSingleton(certificates);
        services.AddSingleton<InboundCertificate>();
        services.AddSingleton<CertificateStore>();
        services.AddHostedService<CertificateBootstrapper>();
        return services;
    }
}
