using Hoop.Proxy.Certificates.Acme;
using Microsoft.AspNetCore.Authorization;

namespace Hoop.Admin.Hosting;

/// <summary>
/// The ports open first, then the services that need the store start (migrations, policy snapshot, certificate,
/// recorder, Postgres listener...). A new instance is reachable at once: a handshake waits for the first certificate
/// (<see cref="Hoop.Proxy.Certificates.InboundCertificate.FirstInstalled"/>), a request for start-up to finish
/// (<see cref="StartGate"/>), and a first start's ACME order is validated while the store is still being created.
/// </summary>
internal static class ServerFirst
{
    /// <summary>
    /// WebApplicationBuilder adds the server's hosted service last, just before the ConfigureContainer callbacks run,
    /// so hosted services start after the server only when added there; this moves the server before all the others
    /// and marks, right after it, the moment the listeners are open.
    /// </summary>
    public static void Apply(ConfigureHostBuilder host) => host.ConfigureContainer<IServiceCollection>((_, services) =>
    {
        var server = services.LastOrDefault(d => d.ServiceType == typeof(IHostedService));
        if (server?.ImplementationType?.Name != "GenericWebHostService")
        {
            throw new InvalidOperationException("The web server's hosted service was not the last one registered; the start order cannot be set.");
        }

        services.Remove(server);
        var first = services.TakeWhile(d => d.ServiceType != typeof(IHostedService)).Count();
        services.Insert(first, server);
        services.Insert(first + 1, ServiceDescriptor.Singleton<IHostedService, ListenersOpen>());
    });

    /// <summary>
    /// <c>UseAuthorization()</c>, with the middleware made at the first request rather than with the pipeline: making
    /// it builds every endpoint of the console and the admin API (its policy cache reads them all), about 0.3 s here,
    /// which would otherwise lie between the process start and the ports opening. The ACME and proxy branches never
    /// reach it.
    /// </summary>
    public static void UseAuthorizationFromFirstRequest(this IApplicationBuilder app)
    {
        // The key UseAuthorization() sets: without it, WebApplication adds an eager authorization middleware of its own.
        app.Properties["__AuthorizationMiddlewareSet"] = true;
        app.Use(next =>
        {
            var middleware = new Lazy<AuthorizationMiddleware>(() => ActivatorUtilities.CreateInstance<AuthorizationMiddleware>(app.ApplicationServices, next));
            return context => middleware.Value.Invoke(context);
        });
    }

    /// <summary>Starts right after the server, whose start binds every port.</summary>
    private sealed class ListenersOpen(AcmeChallenges challenges) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            challenges.ListenersOpen();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
