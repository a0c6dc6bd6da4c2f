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
        app.MapStaticAssets();
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();

        // The public half of the inbound certificate, for agents to pin (curl --cacert, psql sslrootcert).
        app.MapGet("/certificate.pem", (InboundCertificate inbound) =>
            inbound.Certificate is { } certificate
                ? Results.Text(certificate.ExportCertificatePem() + "\n", "application/x-pem-file")
                : Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "No certificate installed yet"))
            .AllowAnonymous();
    }
}
