using Hoop.Admin.Api;
using Hoop.Admin.Auth;
using Hoop.Admin.Cli;
using Hoop.Admin.Console;
using Hoop.Admin.Hosting.Settings;
using Hoop.Data;
using Hoop.Data.Logging;
using Hoop.Data.Secrets;
using Hoop.Data.Store;
using Hoop.Proxy;
using Hoop.Proxy.Certificates.Acme;
using Hoop.Proxy.Reviews;
using Serilog;
using Serilog.Events;

namespace Hoop.Admin.Hosting;

/// <summary>Builds and runs the one Hoop process: store, data path, console, and their listeners.</summary>
public static class HoopHost
{
    /// <summary>Runs Hoop until it is stopped. Start-up problems are printed as one message, exit code 2.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        try
        {
            switch (args)
            {
                case ["healthcheck", ..]:
                    return await HealthCheckCommand.RunAsync(args[1..], error);
                case ["verify-export", ..]:
                    return await VerifyExportCommand.RunAsync(args[1..], output, error);
            }

            await using var app = Build(args, output);
            var settings = app.Services.GetRequiredService<HoopOptions>();
            try
            {
                await app.RunAsync();
            }
            catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
            {
                throw PortInUse(settings, e);
            }

            return 0;
        }
        catch (Exception e) when (FindStartupProblem(e) is { } problem)
        {
            await error.WriteLineAsync($"hoop: cannot start: {problem.Message}");
            return 2;
        }
    }

    /// <summary>
    /// Builds the host. <paramref name="configure"/> lets tests add configuration on top of
    /// appsettings.json and the environment, and <paramref name="services"/> replace services (a clock).
    /// </summary>
    public static WebApplication Build(string[] args, TextWriter notices, Action<IConfigurationBuilder>? configure = null,
        Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // The host reads the appsettings.json copied beside its binary, whatever the working directory.
            ContentRootPath = AppContext.BaseDirectory,
            ApplicationName = typeof(HoopHost).Assembly.GetName().Name,
        });
        configure?.Invoke(builder.Configuration);
        KeepThreadsForRequests();
        // MudBlazor's and the console's static files, in every environment (a no-op once published).
        builder.WebHost.UseStaticWebAssets();

        builder.Services.AddHoopSettings();
        // The host owns its logger: Serilog's static Log.Logger is left alone, so a host that stops (tests run several
        // in one process) never closes another host's logger and the sinks under it.
        builder.Services.AddSerilog((services, logger) => ConfigureLogger(logger, builder.Configuration, services.GetRequiredService<SqliteLogSink>()),
            preserveStaticLogger: true);
        builder.Services.AddSingleton(new Notices(notices));
        builder.Services.AddHoopData(builder.Configuration[MasterKey.EnvironmentVariable]);
        builder.Services.AddSingleton(sp =>
        {
            var listen = sp.GetRequiredService<HoopOptions>();
            return new Hoop.Proxy.Postgres.PostgresEndpoint(new System.Net.IPEndPoint(listen.BindIPAddress, listen.PostgresPort));
        });
        // Links in review notices name the port the console really listens on, also when the system chose it.
        builder.Services.AddSingleton(sp => new ConsoleLink(() => sp.GetRequiredService<Listeners>().ConsoleUrl(sp.GetRequiredService<HoopOptions>().ConsoleUri)));
        builder.Services.AddHoopProxy();
        builder.Services.AddHoopAuth();
        builder.Services.AddHoopConsole();
        builder.Services.AddHoopAdminApi();
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton<Listeners>();
        builder.Services.AddSingleton<StartGate>();
        builder.Services.AddHostedService<IdleMemoryTrim>();
        builder.WebHost.ConfigureKestrel(KestrelSetup.Configure);
        ServerFirst.Apply(builder.Host);
        services?.Invoke(builder.Services);

        // Every setting is checked (building the host already reads the listeners'), and the data folder and master
        // key made ready, before anything else happens.
        WebApplication app;
        try
        {
            app = builder.Build();
            HoopSettings.Check(app.Services);
        }
        catch (Exception e) when (HoopSettings.Problem(e) is { } problem)
        {
            throw problem;
        }

        _ = app.Services.GetRequiredService<MasterKey>();
        app.MapHoop();
        return app;
    }

    /// <summary>
    /// SQLite works synchronously beneath its async API, so the background writers (recorder, search index, log
    /// sink) each hold a thread-pool thread while they write. The pool lets its threads go after a quiet spell and
    /// adds them back only about twice a second, so on a small machine a burst of requests after a pause waited
    /// behind the writers (p99 of 500-800 ms on two cores). A floor of threads above the core count avoids that.
    /// </summary>
    private static void KeepThreadsForRequests()
    {
        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, Environment.ProcessorCount + 8), completionPorts);
    }

    private static void ConfigureLogger(LoggerConfiguration logger, IConfiguration configuration, SqliteLogSink logSink) =>
        logger
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft", LogEventLevel.Warning)
            // YARP logs two lines per proxied request at Information; the recording already has them.
            .MinimumLevel.Override("Yarp", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Hosting.Lifetime", LogEventLevel.Information)
            .ReadFrom.Configuration(configuration)
            .Enrich.FromLogContext()
            .WriteTo.Async(a => a.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}"))
            .WriteTo.Sink(logSink);

    /// <summary>
    /// One line per admin API call (method, path, status, time taken), so the log shows who changed what when; the
    /// console's own requests (pages, static files, the circuit) only at Debug. Proxied requests are recorded instead.
    /// </summary>
    private static void UseApiRequestLogging(this WebApplication app) =>
        app.UseSerilogRequestLogging(options =>
        {
            // The host's own logger: the static one is not set (preserveStaticLogger).
            options.Logger = app.Services.GetRequiredService<Serilog.ILogger>();
            options.MessageTemplate = "{RequestMethod} {RequestPath} answered {StatusCode} in {Elapsed:0.0} ms";
            options.GetLevel = (context, _, exception) =>
                exception is not null || context.Response.StatusCode >= 500 ? LogEventLevel.Error
                : context.Request.Path.StartsWithSegments("/api") ? LogEventLevel.Information
                : LogEventLevel.Debug;
        });

    /// <summary>
    /// Each port has a pipeline of its own, so no console route is reachable on the proxy port and no connection on
    /// the console port, and agents' requests pass none of the console's middleware (cookies, antiforgery,
    /// status pages): the gate authenticates agents itself.
    /// </summary>
    private static void MapHoop(this WebApplication app)
    {
        var listeners = app.Services.GetRequiredService<Listeners>();
        // The http-01 port answers ACME challenges and nothing else.
        var challenges = app.Services.GetRequiredService<AcmeChallenges>();
        app.MapWhen(context => listeners.IsOn(context, ListenerKind.AcmeHttp), acme => acme.Run(challenges.ServeHttp01Async));
        // Everything else waits for the store, the policy and the rest of start-up (the ports open before them).
        app.Use(app.Services.GetRequiredService<StartGate>().Wrap);
        // The proxy port has a branch of its own: none of the console's middleware or endpoints.
        app.MapWhen(context => listeners.IsOn(context, ListenerKind.Proxy), proxy =>
        {
            proxy.UseExceptionHandler();
            proxy.RunHoopProxy();
        });

        app.UseApiRequestLogging();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        // A person's browser asking for a console address that does not exist gets the console's own "not found"
        // page (another error status, its own message), inside its layout; the API and every other client keep
        // problem+json. Inside the line above, so it answers first.
        app.UseWhen(ConsoleSetup.IsPageRequest, console => console.UseStatusCodePagesWithReExecute("/status/{0}", createScopeForStatusCodePages: true));
        app.UseAdminApiRequests();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorizationFromFirstRequest();
        app.UseAntiforgery();

        app.MapHealthChecks("/healthz", new() { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/readyz", new() { Predicate = check => check.Tags.Contains("ready") }).AllowAnonymous();
        app.MapAuthEndpoints();
        app.MapAdminApi();
        app.MapHoopConsole();
    }

    /// <summary>Kestrel's "address already in use", named by the setting that chose the port.</summary>
    private static StartupException PortInUse(HoopOptions settings, IOException e)
    {
        var port = System.Text.RegularExpressions.Regex.Match(e.Message, @":(\d+)(/|:|$| )") is { Success: true } m ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : -1;
        var setting = port == settings.ConsolePort ? "Hoop:ConsoleUrl"
            : port == settings.ProxyPort ? "Hoop:ProxyPort"
            : port == settings.AcmeHttpPort ? "Hoop:AcmeHttpPort"
            : "Hoop:ConsoleUrl, Hoop:ProxyPort or Hoop:AcmeHttpPort";
        return new StartupException($"{setting}: port {port} is in use by another process. Stop that process or choose another port.", e);
    }

    private static StartupException? FindStartupProblem(Exception e) => e switch
    {
        StartupException s => s,
        AggregateException a => a.InnerExceptions.Select(FindStartupProblem).FirstOrDefault(p => p is not null),
        { InnerException: { } inner } => FindStartupProblem(inner),
        _ => null,
    };
}

/// <summary>Where one-time messages for the operator go (the generated admin password): standard output, never the log.</summary>
public sealed record Notices(TextWriter Writer);
