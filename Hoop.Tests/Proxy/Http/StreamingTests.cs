using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Hoop.Tests.Support;

namespace Hoop.Tests.Proxy.Http;

[Collection(Timing.Name)]
public sealed class StreamingTests(DataPathFixture fixture) : IClassFixture<DataPathFixture>
{
    private const long HundredMegabytes = 100L * 1024 * 1024;

    [Fact]
    public async Task HundredMegabytesEachWay_StreamWithBoundedMemory()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "bulk"));
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        long peak = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(false) - before);
                await Task.Delay(20);
            }
        });

        using var download = await agent.GetAsync($"/billing/bytes/{HundredMegabytes}", HttpCompletionOption.ResponseHeadersRead);
        long received = 0;
        await using (var stream = await download.Content.ReadAsStreamAsync())
        {
            var buffer = new byte[81920];
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
            {
                received += read;
            }
        }

        var upload = await agent.PostAsync("/billing/upload", new StreamContent(new ZeroStream(HundredMegabytes)));
        await sampling.CancelAsync();
        await sampler;

        Assert.Equal(HundredMegabytes, received);
        Assert.Equal(HundredMegabytes, (await upload.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("bytes").GetInt64());
        // Client, Hoop and backend share this process: 200 MB crossed it, far less was ever held.
        Assert.True(peak < 48 * 1024 * 1024, $"managed memory grew by {peak / (1024 * 1024)} MB");

        await fixture.FlushRecordingAsync();
        await using var db = await fixture.Contexts.CreateDbContextAsync();
        var recorded = (await Recorded.EventsAsync(db)).Single(e => e.Summary.StartsWith("GET /billing/bytes/", StringComparison.Ordinal));
        var body = JsonDocument.Parse(recorded.Content).RootElement.GetProperty("response").GetProperty("body");
        Assert.Equal(HundredMegabytes, body.GetProperty("bytes").GetInt64());
        Assert.True(body.GetProperty("truncated").GetBoolean());
    }

    [Fact]
    public async Task ServerSentEvents_ArriveAsTheyAreSent()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "sse"));
        using var response = await agent.GetAsync("/billing/sse", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var clock = Stopwatch.StartNew();

        var first = await reader.ReadLineAsync();
        var firstAt = clock.Elapsed;
        var rest = await reader.ReadToEndAsync();

        Assert.Equal("data: event 1", first);
        Assert.Contains("data: event 3", rest);
        // The backend spends ~600 ms between the first and the last event: the first must not wait for it.
        Assert.True(firstAt < clock.Elapsed - TimeSpan.FromMilliseconds(400), $"first event after {firstAt.TotalMilliseconds} ms of {clock.Elapsed.TotalMilliseconds}");
    }

    [Fact]
    public async Task WebSocket_EchoesThroughHoop()
    {
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + fixture.Issuer.Token(subject: "ws"));
        socket.Options.RemoteCertificateValidationCallback = HoopTestHost.TrustOnly(fixture.Hoop.Certificate);
        await socket.ConnectAsync(new Uri($"wss://localhost:{fixture.Hoop.ProxyPort}/billing/ws"), CancellationToken.None);

        await socket.SendAsync(Encoding.UTF8.GetBytes("exec: ls"), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[1024];
        var result = await socket.ReceiveAsync(buffer, CancellationToken.None);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);

        Assert.Equal("exec: ls", Encoding.UTF8.GetString(buffer, 0, result.Count));
        var seen = fixture.Backend.Requests.Last(r => r.Path == "/ws");
        Assert.Equal($"Bearer {DataPathFixture.Canary}", seen.Headers["Authorization"]);
    }

    [Fact]
    public async Task Http2_BothHops()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "h2"), HttpVersion.Version20);

        var response = await agent.GetAsync("/billing/echo?h2=1");

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("HTTP/2", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("protocol").GetString());
    }

    [Fact]
    public async Task GrpcShapedResponse_TrailersArriveOverHttp2()
    {
        using var agent = fixture.Agent(fixture.Issuer.Token(subject: "grpc"), HttpVersion.Version20);

        var response = await agent.GetAsync("/billing/trailers");
        await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal("0", response.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal("ok", response.TrailingHeaders.GetValues("grpc-message").Single());
    }

    /// <summary>A request body of zeros produced on the fly.</summary>
    private sealed class ZeroStream(long length) : Stream
    {
        private long _position;

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, length - _position);
            Array.Clear(buffer, offset, n);
            _position += n;
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
