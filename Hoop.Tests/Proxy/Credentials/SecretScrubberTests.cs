using System.Buffers;
using System.Net.WebSockets;
using System.Text;
using Hoop.Data.Entities;
using Hoop.Proxy.Credentials;
using Hoop.Proxy.Http;

namespace Hoop.Tests.Proxy.Credentials;

public sealed class SecretScrubberTests
{
    private const string Secret = "s3cr3t-token/with+\"quotes\"";
    private static readonly SecretScrubber Scrubber = SecretScrubber.For(CredentialKind.Basic, "svc", Secret);

    [Fact]
    public void For_Basic_CoversStoredSentAndEscapedForms()
    {
        var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes($"svc:{Secret}"));

        Assert.Contains(Secret, Scrubber.Forms);
        Assert.Contains(basic, Scrubber.Forms);
        Assert.Contains("s3cr3t-token/with\\u002B\\u0022quotes\\u0022", Scrubber.Forms); // System.Text.Json
        Assert.Contains("s3cr3t-token\\/with+\\\"quotes\\\"", Scrubber.Forms); // escaped slashes
        Assert.Contains("s3cr3t-token%2Fwith%2B%22quotes%22", Scrubber.Forms);
        Assert.Contains("s3cr3t-token/with+&quot;quotes&quot;", Scrubber.Forms);
    }

    [Fact]
    public void Scrub_Bytes_ReplacesEveryOccurrenceAndLeavesTheRest()
    {
        var text = $"a {Secret} b {Secret}{Secret} c";

        var scrubbed = Scrubber.Scrub(Encoding.UTF8.GetBytes(text), out var replaced);

        Assert.Equal("a [removed] b [removed][removed] c", Encoding.UTF8.GetString(scrubbed!));
        Assert.Equal(3, replaced);
        Assert.Null(Scrubber.Scrub("nothing here"u8, out _));
    }

    [Fact]
    public void Scrub_NotFinal_KeepsBackOnlyATailThatCouldStartASecret()
    {
        var output = new ArrayBufferWriter<byte>();

        Scrubber.Scrub(Encoding.UTF8.GetBytes("data: 1\n\n"), output, final: false, out var whole);
        Scrubber.Scrub(Encoding.UTF8.GetBytes("xx s3cr3t-to"), output, final: false, out var partial);

        Assert.Equal(9, whole);
        Assert.Equal(3, partial);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(4096)]
    public async Task ScrubbingStream_SecretSplitAcrossReads_IsReplaced(int readSize)
    {
        var body = Encoding.UTF8.GetBytes($"{new string('x', 5000)}{Secret}{new string('y', 100)}");

        var stream = new ScrubbingStream(new TrickleStream(body, readSize), Scrubber, () => { });
        var result = new MemoryStream();
        await stream.CopyToAsync(result);

        Assert.Equal($"{new string('x', 5000)}[removed]{new string('y', 100)}", Encoding.UTF8.GetString(result.ToArray()));
    }

    [Fact]
    public async Task WebSocketScrubbingStream_RealFrames_AreReassembledScrubbed()
    {
        var wire = new MemoryStream();
        var server = WebSocket.CreateFromStream(wire, new WebSocketCreationOptions { IsServer = true });
        var secret = Encoding.UTF8.GetBytes($"Bearer {Secret}");
        await server.SendAsync(secret, WebSocketMessageType.Text, true, CancellationToken.None);
        await server.SendAsync(secret.AsMemory(0, 10), WebSocketMessageType.Binary, false, CancellationToken.None);
        await server.SendAsync(secret.AsMemory(10), WebSocketMessageType.Binary, true, CancellationToken.None);
        await server.SendAsync(new byte[70_000], WebSocketMessageType.Binary, true, CancellationToken.None);
        await server.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);

        var found = 0;
        var scrubbed = new WebSocketScrubbingStream(new TrickleStream(wire.ToArray(), 7), Scrubber, () => found++);
        var client = WebSocket.CreateFromStream(new ReadOnlyDuplex(scrubbed), new WebSocketCreationOptions { IsServer = false });

        Assert.Equal($"Bearer [removed]", await ReceiveAsync(client));
        Assert.Equal($"Bearer [removed]", await ReceiveAsync(client));
        Assert.Equal(70_000, (await ReceiveAsync(client)).Length);
        var close = await client.ReceiveAsync(new byte[16], CancellationToken.None);
        Assert.Equal(WebSocketMessageType.Close, close.MessageType);
        Assert.Equal("bye", client.CloseStatusDescription);
        Assert.True(found >= 2);
    }

    private static async Task<string> ReceiveAsync(WebSocket socket)
    {
        var message = new MemoryStream();
        var buffer = new byte[1024];
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, CancellationToken.None);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);

        return Encoding.UTF8.GetString(message.ToArray());
    }

    /// <summary>Hands out its bytes a few at a time, as a network would.</summary>
    private sealed class TrickleStream(byte[] data, int size) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(buffer.Length, size)], cancellationToken);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            base.ReadAsync(buffer, offset, Math.Min(count, size), cancellationToken);
    }

    /// <summary>A client socket's stream: reads from the scrubbed side, writes go nowhere.</summary>
    private sealed class ReadOnlyDuplex(Stream inner) : Stream
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override void Write(byte[] buffer, int offset, int count) { }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.CompletedTask;
        public override void Flush() { }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
