using Hoop.Proxy.Certificates;
using MudBlazor;
using MudBlazor.Services;

namespace Hoop.Admin.Console;

/// <summary>The Blazor Server console on the console port.</summary>
public static class ConsoleSetup
{
    public static IServiceCollection AddHoopConsole(this IServiceCollection services)
    {
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddMudServices(mud =>
        {
            // Bottom right, away from the forms and tables they report on, and gone once the person moves on.
            mud.SnackbarConfiguration.PositionClass = Defaults.Classes.Position.BottomRight;
            mud.SnackbarConfiguration.ClearAfterNavigation = true;
            mud.SnackbarConfiguration.PreventDuplicates = false;
            mud.SnackbarConfiguration.VisibleStateDuration = 6000;
        });
        return services;
    }

    /// <summary>A browser navigating to a page (HTML wanted), not an API call, a script or a file.</summary>
    public static bool IsPageRequest(HttpContext context) =>
        HttpMethods.IsGet(context.Request.Method)
        && !context.Request.Path.StartsWithSegments("/api")
        && !context.Request.Path.StartsWithSegments("/_framework")
        && !context.Request.Path.StartsWithSegments("/_content")
        && context.Request.Headers.Accept.ToString().Contains("text/html", StringComparison.Ordinal);

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
