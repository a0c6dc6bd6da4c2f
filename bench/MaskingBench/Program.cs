// The masking engine's throughput with every built-in detector on (redact). For the JSON document, side by side
// with the same parse-and-write-back without masking, so the cost of the detectors themselves shows.
//   MaskingBench [seconds per measurement, default 5]
using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Proxy.Masking;

var seconds = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
var rules = Detectors.BuiltIn.Keys.Select(d => CompiledMaskingRule.Compile(new MaskingRule { Name = d, Detector = d }, null)).ToList();
var masker = new Masker(rules, new byte[32]);

// About 1 MB of records: mostly ordinary text and numbers, with a few sensitive values per record.
var random = new Random(42);
var records = new List<object>();
var json = Array.Empty<byte>();
for (var i = 0; json.Length < 1024 * 1024; i++)
{
    records.Add(new
    {
        id = i,
        name = $"Customer {i}",
        email = $"person{i}@example.com",
        phone = $"+1 415-555-{random.Next(1000, 9999)}",
        card = "4111 1111 1111 1111",
        note = $"Order {random.Next(100000)} shipped to warehouse {random.Next(50)} on schedule; contact support if the parcel is late.",
        amount = random.Next(1, 100000) / 100.0,
        tags = new[] { "retail", "priority", "eu-west" },
    });
    if (i % 100 == 0)
    {
        json = JsonSerializer.SerializeToUtf8Bytes(records);
    }
}

json = JsonSerializer.SerializeToUtf8Bytes(records);
var strings = Enumerable.Range(0, 10_000).Select(i => i % 4 == 0
    ? $"reach me at user{i}@example.org"
    : $"status {i} ok, nothing sensitive in this line").ToArray();

Console.WriteLine($"masking-bench: {json.Length / 1024} KiB JSON with {records.Count} records; 10,000 strings; {rules.Count} detectors; {seconds} s per measurement");
var results = new List<(string Name, string Unit, double Value)>();
results.Add(("json, no masking (parse and write back)", "MB/s", Measure(() => RoundTrip(json), json.Length)));
results.Add(("json, masked", "MB/s", Measure(() => masker.MaskJson(json, new MaskingCounts()), json.Length)));
// The document bench/masking.sh serves through Hoop: about 1 KB, seven records.
var small = JsonSerializer.SerializeToUtf8Bytes(Enumerable.Range(0, 7).Select(i => new
{
    id = i, name = $"Customer {i}", email = $"person{i}@example.com", phone = $"+1 415-555-{1000 + i:D4}", note = "Order shipped on schedule", amount = 12.5 * i,
}));
var smallPerSecond = Measure(() => masker.MaskJson(small, new MaskingCounts()), small.Length) * 1024 * 1024 / small.Length;
results.Add(($"{small.Length}-byte JSON document (as bench/masking.sh serves), masked", "µs each", 1_000_000 / smallPerSecond));
var stringBytes = strings.Sum(s => Encoding.UTF8.GetByteCount(s));
var stringsPerSecond = Measure(() => { var counts = new MaskingCounts(); foreach (var s in strings) { masker.MaskText(s, counts); } }, stringBytes)
    * 1024 * 1024 / stringBytes * strings.Length;
results.Add(("10,000 short strings (one in four with an email), masked", "strings/s", stringsPerSecond));
results.Add(("  the same, per string", "µs", 1_000_000 / stringsPerSecond));

Console.WriteLine("| measurement | result |");
Console.WriteLine("|---|---|");
foreach (var (name, unit, value) in results)
{
    Console.WriteLine($"| {name} | {value:N1} {unit} |");
}

// MB/s of one operation over the given bytes: warmed up, then repeated for the measurement time.
double Measure(Action operation, long bytes)
{
    var warm = Stopwatch.StartNew();
    while (warm.Elapsed.TotalSeconds < Math.Min(2, seconds / 2))
    {
        operation();
    }

    var runs = 0;
    var clock = Stopwatch.StartNew();
    while (clock.Elapsed.TotalSeconds < seconds)
    {
        operation();
        runs++;
    }

    return bytes * (double)runs / clock.Elapsed.TotalSeconds / (1024 * 1024);
}

static byte[] RoundTrip(byte[] json)
{
    var output = new ArrayBufferWriter<byte>(json.Length);
    using var writer = new Utf8JsonWriter(output);
    var reader = new Utf8JsonReader(json);
    while (reader.Read())
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject: writer.WriteStartObject(); break;
            case JsonTokenType.EndObject: writer.WriteEndObject(); break;
            case JsonTokenType.StartArray: writer.WriteStartArray(); break;
            case JsonTokenType.EndArray: writer.WriteEndArray(); break;
            case JsonTokenType.PropertyName: writer.WritePropertyName(reader.GetString()!); break;
            case JsonTokenType.String: writer.WriteStringValue(reader.GetString()); break;
            default: writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true); break;
        }
    }

    writer.Flush();
    return output.WrittenSpan.ToArray();
}
