using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Hoop.Tests.Support;

/// <summary>A plain HTTP endpoint on loopback that keeps every JSON document posted to it (an alert or chat webhook).</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly List<JsonElement> _received = [];
    private WebApplication _app = null!;

    public Uri Url { get; private set; } = null!;

    public IReadOnlyList<JsonElement> Received
    {
        get
        {
            lock (_received)
            {
                return [.. _received];
            }
        }
    }

    public static async Task<WebhookReceiver> StartAsync()
    {
        var receiver = new WebhookReceiver();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        receiver._app = builder.Build();
        receiver._app.MapPost("/hook", async (HttpContext context) =>
        {
            var body = await JsonSerializer.DeserializeAsync<JsonElement>(context.Request.Body);
            lock (receiver._received)
            {
                receiver._received.Add(body);
            }

            return Results.NoContent();
        });
        await receiver._app.StartAsync();
        receiver.Url = new Uri($"{receiver._app.Urls.Single()}/hook");
        return receiver;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
