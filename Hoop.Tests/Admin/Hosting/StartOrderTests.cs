using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Hoop.Admin.Hosting;
using Hoop.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Hoop.Tests.Admin.Hosting;

/// <summary>The ports open before the store and the rest of start-up; what comes in meanwhile waits, and nothing fails.</summary>
public sealed class StartOrderTests : IDisposable
{
    private readonly TempFolder _folder = new();

    [Fact]
    public async Task HandshakeBeforeAnyCertificate_WaitsForTheFirstOne()
    {
        // Held before the store starts: the ports are open, no certificate is installed yet.
        var hold = new Hold();
        var app = HoopTestHost.Build(_folder.Path, services: s => s.Insert(FirstHostedService(s), ServiceDescriptor.Singleton<IHostedService>(hold)));
        var starting = app.StartAsync();
        try
        {
            await hold.Entered.WaitAsync(TimeSpan.FromSeconds(30));
            using var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, app.Services.GetRequiredService<Listeners>().PortOf(ListenerKind.Proxy));
            await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
            var handshake = tls.AuthenticateAsClientAsync("localhost");

            await Task.Delay(200);
            Assert.False(handshake.IsCompleted, "no certificate yet: the handshake waits");
            hold.Release();
            await handshake.WaitAsync(TimeSpan.FromSeconds(30));
            await starting;
            Assert.NotNull(tls.RemoteCertificate);
        }
        finally
        {
            hold.Release();
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task RequestsBeforeStartUpIsDone_WaitForIt_WhileLivenessAnswersAndReadinessSaysStarting()
    {
        // Held after every other service: the certificate is served, start-up is not finished.
        var hold = new Hold();
        var app = HoopTestHost.Build(_folder.Path, services: s => s.AddSingleton<IHostedService>(hold));
        var starting = app.StartAsync();
        try
        {
            await hold.Entered.WaitAsync(TimeSpan.FromSeconds(30));
            var port = app.Services.GetRequiredService<Listeners>().PortOf(ListenerKind.Console);
            using var client = new HttpClient(new SocketsHttpHandler { SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true } })
            {
                BaseAddress = new Uri($"https://localhost:{port}/"),
            };
            client.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String("admin:correct horse battery staple"u8.ToArray()));

            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
            using var ready = await client.GetAsync("/readyz");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Equal("application/problem+json", ready.Content.Headers.ContentType?.MediaType);
            Assert.Equal("1", ready.Headers.GetValues("Retry-After").Single());
            var waiting = client.GetAsync("/api/v1/connections");
            await Task.Delay(200);
            Assert.False(waiting.IsCompleted, "start-up is not done: the request waits");

            hold.Release();
            await starting;
            using var answered = await waiting.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);
        }
        finally
        {
            hold.Release();
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static int FirstHostedService(IServiceCollection services) =>
        services.TakeWhile(d => d.ServiceType != typeof(IHostedService)).Count();

    /// <summary>A hosted service whose start waits until the test lets it go.</summary>
    private sealed class Hold : IHostedService
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Entered => _entered.Task;

        public void Release() => _released.TrySetResult();

        public Task StartAsync(CancellationToken cancellationToken)
        {
            _entered.TrySetResult();
            return _released.Task;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    public void Dispose() => _folder.Dispose();
}
