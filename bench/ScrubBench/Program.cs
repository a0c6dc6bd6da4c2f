// What scrubbing the stored secret from backend answers costs (Hoop.Proxy/Credentials/SecretScrubber): a Basic
// credential (the most forms: stored, base64 and their escaped forms), over a 1 KB JSON response and a 1 MB one,
// with the secret absent (every ordinary response) and present, whole and as a stream read 16 KB at a time.
//   ScrubBench [seconds per measurement, default 3]
using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Proxy.Credentials;

var seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 3;
var secret = "sk-live-" + Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()) + "/+=";
var scrubber = SecretScrubber.For(CredentialKind.Basic, "svc", secret);

byte[] Document(int size, bool withSecret)
{
    var random = new Random(7);
    var records = new List<object>();
    byte[] json;
    do
    {
        records.Add(new { id = records.Count, name = $"Customer {records.Count}", email = $"person{records.Count}@example.com", note = "Order shipped on schedule", amount = random.Next(1, 100000) / 100.0 });
        json = JsonSerializer.SerializeToUtf8Bytes(records);
    }
    while (json.Length < size);

    return withSecret ? JsonSerializer.SerializeToUtf8Bytes(new { seen = $"Basic {secret}", records }) : json;
}

var small = Document(1024, withSecret: false);
var smallSecret = Document(1024, withSecret: true);
var large = Document(1024 * 1024, withSecret: false);
var largeSecret = Document(1024 * 1024, withSecret: true);

Console.WriteLine($"reflection-bench: {scrubber.Forms.Count} forms of a {secret.Length}-character Basic secret; {seconds} s per measurement");
Console.WriteLine("| response | secret in it | µs each | MB/s |");
Console.WriteLine("|---|---|---|---|");
Row($"{small.Length} B JSON, whole", "no", small, b => scrubber.Scrub(b, out _));
Row($"{smallSecret.Length} B JSON, whole", "yes", smallSecret, b => scrubber.Scrub(b, out _));
Row($"{large.Length / 1024} KiB JSON, whole", "no", large, b => scrubber.Scrub(b, out _));
Row($"{large.Length / 1024} KiB JSON, streamed in 16 KB reads", "no", large, Streamed);
Row($"{largeSecret.Length / 1024} KiB JSON, streamed in 16 KB reads", "yes", largeSecret, Streamed);

void Streamed(byte[] body)
{
    var output = new ArrayBufferWriter<byte>(20 * 1024);
    var kept = 0;
    for (var at = 0; at < body.Length; at += 16 * 1024)
    {
        var end = Math.Min(body.Length, at + 16 * 1024);
        output.ResetWrittenCount();
        scrubber.Scrub(body.AsSpan(at - kept, end - at + kept), output, final: end == body.Length, out var consumed);
        kept = end - at + kept - consumed;
    }
}

void Row(string name, string present, byte[] body, Action<byte[]> work)
{
    for (var i = 0; i < 200; i++)
    {
        work(body); // warm up: tiered compilation settles
    }

    var clock = Stopwatch.StartNew();
    long runs = 0;
    while (clock.Elapsed.TotalSeconds < seconds)
    {
        work(body);
        runs++;
    }

    var micros = clock.Elapsed.TotalMicroseconds / runs;
    Console.WriteLine($"| {name} | {present} | {micros:0.00} | {body.Length / micros:0} |");
}
