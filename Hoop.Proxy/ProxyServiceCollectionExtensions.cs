using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Hoop.Proxy.Admission;
using Hoop.Proxy.Certificates;
using Hoop.Proxy.Certificates.Acme;
using Hoop.Proxy.Guardrails;
using Hoop.Proxy.Http;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Model;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Postgres;
using Hoop.Proxy.Recording;
using Hoop.Proxy.Reviews;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Hoop.Proxy;

public static class ProxyServiceCollectionExtensions
{
    /// <summary>
    /// The data path: inbound certificate, policy snapshot, caller identity, recording, and YARP configured from the snapshot.
    /// Hosted services start in this order, after the store's. Needs the options of each area registered
    /// (<see cref="CertificateSettings"/>, <see cref="IdentityOptions"/>, <see cref="RecordingOptions"/>,
    /// <see cref="MaskingOptions"/>, <see cref="ReviewOptions"/>, <see cref="ProxyOptions"/>), a <see cref="PostgresEndpoint"/>
    /// and a <see cref="ConsoleLink"/>.
    /// </summary>
    public static IServiceCollection AddHoopProxy(this IServiceCollection services)
    {
        // The policy snapshot first: the certificate services read their settings from it at start.
        services.AddSingleton<PolicyStore>();
        services.AddHostedService(sp => sp.GetRequiredService<PolicyStore>());

        services.AddSingleton<InboundCertificate>();
        services.AddSingleton<CertificateStore>();
        services.AddSingleton(new PublicRoots());
        services.AddSingleton<CertificateInstaller>();
        services.AddSingleton<CertificateBootstrapper>();
        services.AddHostedService(sp => sp.GetRequiredService<CertificateBootstrapper>());
        services.AddSingleton<AcmeChallenges>();
        services.AddSingleton<AcmeIssuer>();
        services.AddSingleton<CertificateStatus>();
        services.AddSingleton<FirstOrder>();
        services.AddHostedService(sp => sp.GetRequiredService<FirstOrder>());
        services.AddSingleton<CertificateRenewal>();
        services.AddHostedService(sp => sp.GetRequiredService<CertificateRenewal>());
        services.AddHttpClient(AcmeIssuer.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(30))
            .ConfigurePrimaryHttpMessageHandler(sp => AcmeHandler(sp.GetRequiredService<CertificateSettings>().Acme));
        services.AddHttpClient("alerts", c => c.Timeout = TimeSpan.FromSeconds(10));

        services.AddSingleton<ReviewGate>();
        services.AddHostedService(sp => sp.GetRequiredService<ReviewGate>());
        services.AddSingleton<ActivityFeed>();
        services.AddSingleton<Recorder>();
        services.AddHostedService(sp => sp.GetRequiredService<Recorder>());
        services.AddSingleton<SessionTracker>();
        services.AddHostedService(sp => sp.GetRequiredService<SessionTracker>());
        services.AddSingleton<SearchIndex>();
        services.AddHostedService(sp => sp.GetRequiredService<SearchIndex>());
        services.AddSingleton<RetentionJob>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionJob>());

        services.AddHttpClient("oidc", c => c.Timeout = TimeSpan.FromSeconds(10));
        services.AddSingleton<IssuerHttp>();
        services.AddSingleton<IssuerCheck>();
        services.AddSingleton<IssuerMetadata>();
        services.AddSingleton<TokenValidator>();
        services.AddSingleton<Callers>();
        services.AddSingleton<Admissions>();

        services.AddHttpForwarder();
        services.AddSingleton<UpstreamClients>();
        services.AddSingleton<GuardrailEvaluator>();
        services.AddSingleton<GuardrailCheck>();
        services.AddSingleton<ProxyGate>();

        services.AddSingleton<PgCancels>();
        services.AddSingleton<SqlGuardrailCheck>();
        services.AddSingleton<PgRelayServices>();
        services.AddSingleton<PostgresListener>();
        services.AddHostedService(sp => sp.GetRequiredService<PostgresListener>());
        return services;
    }

    /// <summary>The ACME server's own TLS is verified: by the system's roots, or by the roots of an internal CA's PEM file.</summary>
    private static SocketsHttpHandler AcmeHandler(AcmeOptions acme)
    {
        var handler = new SocketsHttpHandler();
        if (acme.TrustedRootsFile is { } file)
        {
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(file);
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
                {
                    return false;
                }

                using var own = new X509Chain();
                own.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                own.ChainPolicy.CustomTrustStore.AddRange(roots);
                own.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                own.ChainPolicy.ExtraStore.AddRange(chain?.ChainPolicy.ExtraStore ?? []);
                return own.Build(new X509Certificate2(certificate));
            };
        }

        return handler;
    }

    /// <summary>
    /// The proxy port's whole pipeline: every request goes to <see cref="ProxyGate"/>, which finds the connection it
    /// names, or answers 401 or, to an authenticated caller, a 404 problem.
    /// </summary>
    public static void RunHoopProxy(this IApplicationBuilder proxy)
    {
        var gate = proxy.ApplicationServices.GetRequiredService<ProxyGate>();
        // The proxy port runs no authentication or authorization middleware: the gate checks agents itself.
        proxy.Run(gate.InvokeAsync);
    }
}
