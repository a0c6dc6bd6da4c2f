using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Records;
using Hoop.Data.Store;
using Hoop.Proxy.Recording;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Where a recorded event's CPU goes, one step at a time on one thread, with the product's own code for each step
/// of today's design (one row per event), and the same events written the way a chunked design would (events of one
/// session gathered to 64 KB, compressed, one MAC and one row per chunk), to size that design before building it.
/// </summary>
internal static class Breakdown
{
    private const int ChunkBytes = 64 * 1024;

    /// <summary>
    /// Runs in a host that is built but not started (its store migrated by hand), so no background service (the
    /// search indexer above all) works beside the step being timed; each step is timed on the one thread running it.
    /// </summary>
    public static async Task RunAsync(Func<string, WebApplication> build, string dataFolder, int events)
    {
        Directory.CreateDirectory(dataFolder);
        await using var app = build(dataFolder);
        var services = app.Services;
        var seal = services.GetRequiredService<RecordSeal>();
        var contexts = services.GetRequiredService<IDbContextFactory<HoopDbContext>>();
        var sessionId = Guid.NewGuid();
        await using (var db = await contexts.CreateDbContextAsync())
        {
            await db.Database.MigrateAsync();
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
            db.Sessions.Add(new Session { Id = sessionId, ConnectionName = "breakdown", Subject = "breakdown", StartedAt = DateTime.UtcNow });
            await db.SaveChangesAsync();
        }

        var record = Sample();
        var sample = RecordJson.Write(record);
        Report("serialize (typed record, source-generated JSON)", events, () => RecordJson.Write(record));

        var list = new List<SessionEvent>(events);
        for (var i = 1; i <= events; i++)
        {
            list.Add(new SessionEvent { SessionId = sessionId, Sequence = i, At = DateTime.UtcNow, Kind = EventKinds.Http, Summary = $"GET /v1/customers/{i} 200", Content = sample });
        }

        var last = RecordChain.Genesis(sessionId);
        var hashes = new byte[events][];
        var n = 0;
        Report("chain link (canonical JSON + SHA-256)", events, () => last = hashes[n] = RecordChain.Link(last, list[n++]));
        n = 0;
        Report("MAC per event (HMAC-SHA256, hex)", events, () => list[n].Mac = seal.Mac(hashes[n++]));
        foreach (var (e, hash) in list.Zip(hashes))
        {
            e.Hash = RecordChain.Hex(hash);
        }

        var size = Size(dataFolder);
        var from = Now();
        for (var start = 0; start < events; start += 512)
        {
            await using var db = await contexts.CreateDbContextAsync();
            await using var transaction = await db.Database.BeginTransactionAsync();
            await SessionEventWriter.InsertAsync(db, list.GetRange(start, Math.Min(512, events - start)));
            await transaction.CommitAsync();
        }

        Line("row insert (prepared INSERT, 512 per transaction)", Now() - from, events);
        var rowBytes = Size(dataFolder) - size;

        var index = services.GetRequiredService<SearchIndex>();
        from = Now();
        await index.IndexAsync(CancellationToken.None);
        Line("search index (FTS5, in batches after the write)", Now() - from, events);
        var indexedBytes = Size(dataFolder) - size;
        Console.WriteLine($"recorder-breakdown bytes-per-event rows {rowBytes / events} with-index {indexedBytes / events}");

        await ChunkedAsync(dataFolder, list, seal);
    }

    /// <summary>The same events as a chunked writer would store them: JSON lines per session, 64 KB per chunk, compressed, one MAC and one row each.</summary>
    private static async Task ChunkedAsync(string dataFolder, List<SessionEvent> events, RecordSeal seal)
    {
        foreach (var (codec, compress) in new (string, Func<byte[], int, byte[]>)[] { ("deflate-fastest", Deflate), ("brotli-1", Brotli) })
        {
            var path = Path.Combine(dataFolder, $"chunks-{codec}.db");
            await using var connection = new SqliteConnection($"Data Source={path};Pooling=false");
            await connection.OpenAsync();
            await using (var create = connection.CreateCommand())
            {
                create.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE chunks (id INTEGER PRIMARY KEY, session TEXT, first INTEGER, last INTEGER, mac TEXT, data BLOB)";
                await create.ExecuteNonQueryAsync();
            }

            var from = Now();
            var compressSeconds = 0.0;
            var buffer = new MemoryStream();
            var first = 1;
            var stored = 0L;
            await using var transaction = connection.BeginTransaction();
            await using var insert = connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO chunks (session, first, last, mac, data) VALUES (@s, @f, @l, @m, @d)";
            var (s, f, l, m, d) = (insert.Parameters.Add("@s", SqliteType.Text), insert.Parameters.Add("@f", SqliteType.Integer),
                insert.Parameters.Add("@l", SqliteType.Integer), insert.Parameters.Add("@m", SqliteType.Text), insert.Parameters.Add("@d", SqliteType.Blob));
            for (var i = 0; i < events.Count; i++)
            {
                var e = events[i];
                // The line holds what the row held: sequence, time, kind, summary, content, duration, marks, hash.
                System.Text.Json.JsonSerializer.Serialize(buffer, new object?[] { e.Sequence, e.At.Ticks, e.Kind, e.Summary, e.Content, e.DurationMicroseconds, (int)e.Marks, e.Hash });
                buffer.WriteByte((byte)'\n');
                if (buffer.Length < ChunkBytes && i < events.Count - 1)
                {
                    continue;
                }

                var started = Now();
                var data = compress(buffer.GetBuffer(), (int)buffer.Length);
                compressSeconds += Now() - started;
                (s.Value, f.Value, l.Value, m.Value, d.Value) = (e.SessionId.ToString(), first, e.Sequence, seal.Mac(SHA256.HashData(data)), data);
                await insert.ExecuteNonQueryAsync();
                stored += data.Length;
                buffer.SetLength(0);
                first = e.Sequence + 1;
            }

            await transaction.CommitAsync();
            var total = Now() - from;
            Line($"chunked write, {codec} (lines, compress, MAC and row per 64 KB)", total, events.Count);
            Line($"  of which compression ({codec})", compressSeconds, events.Count);
            Console.WriteLine($"recorder-breakdown chunked-bytes-per-event {codec} {stored / events.Count} (file {new FileInfo(path).Length / events.Count})");
        }
    }

    private static byte[] Deflate(byte[] data, int length)
    {
        using var output = new MemoryStream();
        using (var zlib = new ZLibStream(output, CompressionLevel.Fastest))
        {
            zlib.Write(data, 0, length);
        }

        return output.ToArray();
    }

    private static byte[] Brotli(byte[] data, int length)
    {
        var output = new byte[BrotliEncoder.GetMaxCompressedLength(length)];
        BrotliEncoder.TryCompress(data.AsSpan(0, length), output, out var written, quality: 1, window: 22);
        return output[..written];
    }

    /// <summary>About 1 KB: an HTTP exchange as the proxy records it (headers, a JSON body, TLS on both hops).</summary>
    internal static HttpExchangeRecord Sample() => new()
    {
        Request = new HttpRequestRecord("GET", "/billing/v1/customers/42", null, "HTTP/1.1",
            new Dictionary<string, string> { ["Accept"] = "application/json", ["Authorization"] = "[removed]", ["Host"] = "localhost:8443", ["User-Agent"] = "bench/1.0" },
            null),
        Response = new HttpResponseRecord(200, new Dictionary<string, string> { ["Content-Type"] = "application/json", ["Content-Length"] = "620" },
            new BodyRecord(620, false, "{\"id\": 42, \"name\": \"Customer 42\", \"email\": \"<email>\", \"orders\": [" +
                string.Join(", ", Enumerable.Range(1, 9).Select(i => $"{{\"id\": {i}, \"status\": \"shipped\", \"amount\": {i * 12.5}}}")) + "]}", null)),
        Tls = new TlsRecord("Tls13 TLS_AES_256_GCM_SHA384", "Tls13 TLS_AES_256_GCM_SHA384", "CaBundle"),
        DurationMs = 1.7,
    };

    private static void Report(string step, int events, Action action)
    {
        var from = Now();
        for (var i = 0; i < events; i++)
        {
            action();
        }

        Line(step, Now() - from, events);
    }

    private static void Line(string step, double seconds, int events) =>
        Console.WriteLine($"recorder-breakdown {seconds * 1e6 / events,8:0.0} µs/event  {step}");

    // Wall time of the one thread doing the step: nothing else runs in this host (see RunAsync).
    private static double Now() => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    private static long Size(string folder) => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
        .Where(f => !Path.GetFileName(f).StartsWith("chunks-", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);
}
