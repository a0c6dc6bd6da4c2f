using Hoop.Proxy.Certificates;
using Radzen;

namespace Hoop.Admin.Console;

/// <summary>The Blazor Server console on the console port.</summary>
public static class ConsoleSetup
{
    public static IServiceCollection AddHoopConsole(this IServiceCollection services)
    {
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddRadzenComponents();
        return services;
    }

    public static void MapHoopConsole(this WebApplication app)
    {
        // The manifest sits beside Hoop.Admin's own build or publish output. A host embedded elsewhere
        // (bench/HoopBench, published on its own) has none: it serves the console unstyled rather than fail.
        var manifest = Path.Combine(AppContext.BaseDirectory, "Hoop.Admin.staticwebassets.endpoints.json");
        if (File.Exists(manifest))
        {
            app.MapStaticAssets(manifest).AllowAnonymous();
        }

        // Pages without [AllowAnonymous] fall under the deny-by-default policy. The framework's script is public:
        // the sign-in page loads it before anyone is signed in.
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode().Add(endpoint =>
        {
            if (endpoint is RouteEndpointBuilder { RoutePattern.RawText: { } route } && route.TrimStart('/').StartsWith("_framework/", StringComparison.Ordinal))
            {
                endpoint.Metadata.Add(new Microsoft.AspNetCore.Authorization.AllowAnonymousAttribute());
            }
        });

        // The public half of the inbound certificate, for agents to pin (curl --cacert, psql sslrootcert).
        app.MapGet("/certificate.pem", (InboundCertificate inbound) =>
            inbound.Certificate is { } certificate
                ? Results.Text(certificate.ExportCertificatePem() + "\n", "application/x-pem-file")
                : Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "No certificate installed yet"))
            .AllowAnonymous();
    }
}
