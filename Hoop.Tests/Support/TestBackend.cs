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

    /// <summary>Requests to /hold wait here until <see cref="HeldRequests.Release"/>: a request that is surely in flight.</summary>
    public HeldRequests Held => _app.Services.GetRequiredService<HeldRequests>();

    public sealed class HeldRequests
    {
        private TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _waiting;

        public int Waiting => Volatile.Read(ref _waiting);

        public void Release() => Interlocked.Exchange(ref _release, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

        internal async Task WaitAsync()
        {
            var release = Volatile.Read(ref _release).Task;
            Interlocked.Increment(ref _waiting);
            try
            {
                await release;
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
        }
    }

    public static async Task<TestBackend> StartAsync(X509Certificate2? certificate)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddSingleton<HeldRequests>();
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

        // A careless backend that sends the credential it got back in the form ?as= names (Hoop must scrub each).
        app.MapGet("/mirror", async (HttpContext context) =>
        {
            var seen = context.Request.Headers.Authorization.ToString();
            var response = context.Response;
            switch (context.Request.Query["as"].ToString())
            {
                case "json":
                    await response.WriteAsJsonAsync(new { seen });
                    break;
                case "html":
                    response.ContentType = "text/html";
                    await response.WriteAsync($"<p>You sent {WebUtility.HtmlEncode(seen)}</p>");
                    break;
                case "url":
                    response.ContentType = "application/x-www-form-urlencoded";
                    await response.WriteAsync($"seen={Uri.EscapeDataString(seen)}");
                    break;
                case "sse-split":
                    // The secret arrives in two writes, 100 ms apart.
                    response.ContentType = "text/event-stream";
                    await response.WriteAsync($"data: {seen[..(seen.Length / 2)]}");
                    await response.Body.FlushAsync();
                    await Task.Delay(100);
                    await response.WriteAsync($"{seen[(seen.Length / 2)..]}\n\n");
                    break;
                case "ndjson":
                    response.ContentType = "application/x-ndjson";
                    await response.WriteAsync($"{JsonSerializer.Serialize(new { n = 1 })}\n{JsonSerializer.Serialize(new { seen })}\n");
                    break;
                case "large" or "large-length":
                    // 100 KB of text with the secret across the 16 KB mark, chunked or with its length.
                    var text = new string('x', 16 * 1024 - 10) + seen + new string('y', 100 * 1024);
                    response.ContentType = "text/plain";
                    if (context.Request.Query["as"] == "large-length")
                    {
                        response.ContentLength = System.Text.Encoding.UTF8.GetByteCount(text);
                    }

                    await response.WriteAsync(text[..(16 * 1024)]);
                    await response.Body.FlushAsync();
                    await response.WriteAsync(text[(16 * 1024)..]);
                    break;
                case "trailer":
                    response.ContentType = "application/grpc";
                    response.DeclareTrailer("x-seen");
                    await response.Body.WriteAsync(new byte[] { 0, 0, 0, 0, 0 });
                    response.AppendTrailer("x-seen", seen);
                    break;
                case "gzip":
                    // Compressed whatever the request asked for.
                    response.ContentType = "text/plain";
                    response.Headers.ContentEncoding = "gzip";
                    await using (var gzip = new System.IO.Compression.GZipStream(response.Body, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
                    {
                        await gzip.WriteAsync(System.Text.Encoding.UTF8.GetBytes($"You sent: {seen}"));
                    }

                    break;
                case "header":
                    response.Headers.Location = $"/next?token={Uri.EscapeDataString(seen)}";
                    response.StatusCode = StatusCodes.Status302Found;
                    break;
                default:
                    response.ContentType = "text/plain; charset=utf-8";
                    await response.WriteAsync($"You sent: {seen}");
                    break;
            }
        });

        // The credential sent back over a WebSocket: once as one message, once split over two fragments.
        app.Map("/mirror-ws", async (HttpContext context) =>
        {
            var seen = System.Text.Encoding.UTF8.GetBytes(context.Request.Headers.Authorization.ToString());
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            await socket.SendAsync(seen, WebSocketMessageType.Text, true, CancellationToken.None);
            await socket.SendAsync(seen.AsMemory(0, seen.Length / 2), WebSocketMessageType.Text, false, CancellationToken.None);
            await socket.SendAsync(seen.AsMemory(seen.Length / 2), WebSocketMessageType.Text, true, CancellationToken.None);
            await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
            await socket.ReceiveAsync(new byte[64], CancellationToken.None);
            return Results.Empty;
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

        app.MapGet("/hold", async (HeldRequests held) =>
        {
            await held.WaitAsync();
            return Results.Ok(new { held = true });
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
