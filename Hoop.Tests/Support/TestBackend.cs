using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Hoop.Tests.Support;

/// <summary>
/// A real Kestrel backend on loopback (TLS with the given certificate, or plain http), with endpoints that let
/// tests see what Hoop forwarded: echo, large bodies, server-sent events, WebSockets, slow and broken answers.
/// </summary>
public sealed class TestBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestBackend(WebApplication app, bool tls)
    {
        _app = app;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        Port = new Uri(address).Port;
        Address = new Uri($"{(tls ? "https" : "http")}://localhost:{Port}/");
    }

    public int Port { get; }
    public Uri Address { get; }

    /// <summary>Every request the backend received, in order: what the agent's request became after Hoop.</summary>
    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary><see cref="RawTarget"/>: the request target exactly as it arrived, before any decoding.</summary>
    public sealed record Received(string Method, string Path, string Protocol, IReadOnlyDictionary<string, string> Headers, string? RawTarget = null);

    public static async Task<TestBackend> StartAsync(X509Certificate2? certificate)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(IPAddress.Loopback, 0, listen =>
            {
                listen.Protocols = certificate is null ? HttpProtocols.Http1 : HttpProtocols.Http1AndHttp2;
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        var app = builder.Build();
        TestBackend? backend = null;
        app.Use((context, next) =>
        {
            backend!.Requests.Enqueue(new Received(context.Request.Method, context.Request.Path + context.Request.QueryString,
                context.Request.Protocol, context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget));
            return next(context);
        });
        Map(app);
        await app.StartAsync();
        backend = new TestBackend(app, certificate is not null);
        return backend;
    }

    private static void Map(WebApplication app)
    {
        app.UseWebSockets();

        // What arrived, minus Authorization (tests read that from Requests), as JSON.
        app.Map("/echo", async (HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var body = await reader.ReadToEndAsync();
            await context.Response.WriteAsJsonAsync(new
            {
                method = context.Request.Method,
                path = context.Request.Path.Value,
                query = context.Request.QueryString.Value,
                protocol = context.Request.Protocol,
                body,
                headers = context.Request.Headers.Where(h => h.Key != "Authorization").ToDictionary(h => h.Key, h => h.Value.ToString()),
            });
        });

        // A backend that reflects the credential it got in a response header (Hoop must scrub it).
        app.MapGet("/reflect", (HttpContext context) =>
        {
            context.Response.Headers["X-Seen-Authorization"] = context.Request.Headers.Authorization.ToString();
            return Results.Ok(new { ok = true });
        });

        app.MapGet("/bytes/{count:long}", async (long count, HttpContext context) =>
        {
            context.Response.ContentType = "application/octet-stream";
            context.Response.ContentLength = count;
            var chunk = new byte[64 * 1024];
            for (long sent = 0; sent < count; sent += chunk.Length)
            {
                await context.Response.Body.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, count - sent)));
            }
        });

        app.MapPost("/upload", async (HttpContext context) =>
        {
            var buffer = new byte[64 * 1024];
            long total = 0;
            int read;
            while ((read = await context.Request.Body.ReadAsync(buffer)) > 0)
            {
                total += read;
            }

            return Results.Ok(new { bytes = total });
        });

        // Three events, 300 ms apart, each flushed: a streaming client sees the first long before the last.
        app.MapGet("/sse", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/event-stream";
            var json = context.Request.Query.ContainsKey("json");
            for (var i = 1; i <= 3; i++)
            {
                // With ?json, each event is a JSON payload holding an email address (for masking tests).
                await context.Response.WriteAsync(json ? $"data: {{\"token\":\"event {i}\",\"email\":\"user{i}@example.com\"}}\n\n" : $"data: event {i}\n\n");
                await context.Response.Body.FlushAsync();
                await Task.Delay(300);
            }
        });

        app.Map("/ws", async (HttpContext context) =>
        {
            if (!context.WebSockets.IsWebSocketRequest)
            {
                return Results.BadRequest();
            }

            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[4096];
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
                    return Results.Empty;
                }

                await socket.SendAsync(buffer.AsMemory(0, result.Count), result.MessageType, result.EndOfMessage, CancellationToken.None);
            }
        });

        app.MapGet("/slow/{ms:int}", async (int ms) =>
        {
            await Task.Delay(ms);
            return Results.Ok(new { waited = ms });
        });

        // Starts a response, then breaks the connection.
        app.MapGet("/reset", async (HttpContext context) =>
        {
            context.Response.ContentLength = 1_000_000;
            await context.Response.Body.WriteAsync(new byte[1000]);
            await context.Response.Body.FlushAsync();
            context.Abort();
        });

        // A gRPC-shaped answer: HTTP/2, a body, then trailers.
        app.MapGet("/trailers", async (HttpContext context) =>
        {
            context.Response.ContentType = "application/grpc";
            context.Response.DeclareTrailer("grpc-status");
            await context.Response.Body.WriteAsync(new byte[] { 0, 0, 0, 0, 0 });
            context.Response.AppendTrailer("grpc-status", "0");
            context.Response.AppendTrailer("grpc-message", "ok");
        });

        app.MapGet("/status/{code:int}", (int code) => Results.StatusCode(code));

        app.MapGet("/json", () => Results.Text(JsonSerializer.Serialize(new { name = "ada", card = "4111 1111 1111 1111" }), "application/json"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
