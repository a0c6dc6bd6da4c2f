using System.Diagnostics;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Records;
using Hoop.Data.Store;
using Hoop.Proxy.Recording;
using Microsoft.EntityFrameworkCore;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Where a recorded event's CPU goes, one step at a time on one thread, with the product's own code for each step:
/// serialization, framing and chaining into a chunk, closing chunks, storing them, and indexing them for search.
/// </summary>
internal static class Breakdown
{
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
        await using (var db = await contexts.CreateDbContextAsync())
        {
            await db.Database.MigrateAsync();
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
        }

        var record = Sample();
        var sample = RecordJson.Write(record);
        Report("serialize (typed record, source-generated JSON)", events, () => RecordJson.Write(record));

        // The recorder's write path, step by step: batches of Recorder.BatchSize events, each event framed and
        // chained into a chunk, a chunk closed (compressed, one MAC) at 64 KB and at the batch's end, one transaction
        // per batch. Each round writes a session of its own.
        using var writer = new EventChunk.Writer();
        var size = Size(dataFolder);
        var append = new List<double>();
        var close = new List<double>();
        var insert = new List<double>();
        var chunkCount = 0;
        for (var round = 0; round < Rounds; round++)
        {
            var sessionId = Guid.NewGuid();
            await using (var db = await contexts.CreateDbContextAsync())
            {
                db.Sessions.Add(new Session { Id = sessionId, ConnectionName = "breakdown", Subject = "breakdown", StartedAt = DateTime.UtcNow });
                await db.SaveChangesAsync();
            }

            var list = new List<SessionEvent>(events);
            for (var i = 1; i <= events; i++)
            {
                list.Add(new SessionEvent { SessionId = sessionId, Sequence = i, At = DateTime.UtcNow, Kind = EventKinds.Http, Summary = $"GET /v1/customers/{i} 200", Content = sample });
            }

            double appending = 0, closing = 0, inserting = 0;
            var last = RecordChain.Genesis(sessionId);
            for (var start = 0; start < events; start += Recorder.BatchSize)
            {
                var chunks = new List<SessionChunk>();
                var at = Now();
                foreach (var e in list.GetRange(start, Math.Min(Recorder.BatchSize, events - start)))
                {
                    if (writer.Length >= EventChunk.TargetBytes)
                    {
                        chunks.Add(writer.Close(sessionId, seal.Mac(last)));
                        closing += Now() - at;
                        at = Now();
                    }

                    var hash = new byte[32];
                    writer.Append(e, last, hash);
                    last = hash;
                    appending += Now() - at;
                    at = Now();
                }

                chunks.Add(writer.Close(sessionId, seal.Mac(last)));
                closing += Now() - at;
                at = Now();
                await using var db = await contexts.CreateDbContextAsync();
                db.ChangeTracker.AutoDetectChangesEnabled = false;
                await using var transaction = await db.Database.BeginTransactionAsync();
                db.SessionChunks.AddRange(chunks);
                await db.SaveChangesAsync();
                await transaction.CommitAsync();
                inserting += Now() - at;
                chunkCount += chunks.Count;
            }

            (append, close, insert) = ([.. append, appending], [.. close, closing], [.. insert, inserting]);
        }

        Line("frame and chain link v2 (SHA-256 over the frame)", Median(append), events);
        Line("close chunks (LZ4, one MAC each)", Median(close), events);
        Line($"insert chunks ({chunkCount / Rounds} rows, one transaction per {Recorder.BatchSize} events)", Median(insert), events);
        Line("write path after serialization", Median([.. append.Select((a, i) => a + close[i] + insert[i])]), events);
        var chunkBytes = Size(dataFolder) - size;

        // Indexing the rounds' sessions, then again from an empty index, each time timed.
        var index = services.GetRequiredService<SearchIndex>();
        var indexing = new List<double>();
        long indexBytes = 0;
        for (var round = 0; round < Rounds; round++)
        {
            await using (var db = await contexts.CreateDbContextAsync())
            {
                await db.Database.ExecuteSqlRawAsync("INSERT INTO SessionChunkSearch (SessionChunkSearch) VALUES ('delete-all')");
                await db.Database.ExecuteSqlRawAsync("DELETE FROM Settings WHERE Key = {0}", SearchIndex.ChunksIndexedThroughSetting);
            }

            var before = Size(dataFolder);
            var from = Now();
            await index.IndexAsync(CancellationToken.None);
            indexing.Add(Now() - from);
            indexBytes = round == 0 ? Size(dataFolder) - before : indexBytes;
        }

        Line("search index (FTS5, one document per chunk, after the write)", Median(indexing), events * Rounds);
        // The indexer's own parts, apart from FTS5: opening the chunks and taking the values out of each event's content.
        await using (var db = await contexts.CreateDbContextAsync())
        {
            var stored = await db.SessionChunks.AsNoTracking().ToListAsync();
            var text = new System.Buffers.ArrayBufferWriter<byte>(EventChunk.TargetBytes);
            var scratch = new System.Buffers.ArrayBufferWriter<byte>(4096);
            double opening = 0, values = 0;
            foreach (var chunk in stored)
            {
                var at = Now();
                var data = EventChunk.Open(chunk);
                var frames = EventChunk.Layout(data);
                opening += Now() - at;
                at = Now();
                text.ResetWrittenCount();
                foreach (var frame in frames)
                {
                    SearchIndex.TextOf(data.AsSpan(frame.Content), text, scratch);
                }

                values += Now() - at;
            }

            Line("  of which opening chunks (LZ4, frame layout)", opening, events * Rounds);
            Line("  of which the values of each event (SearchIndex.TextOf over UTF-8)", values, events * Rounds);
        }

        Console.WriteLine($"recorder-breakdown bytes-per-event chunks {chunkBytes / (events * Rounds)} index {indexBytes / (events * Rounds)}");
    }

    /// <summary>Rounds of each step: the machine's noise is large, so the median of several is reported.</summary>
    private const int Rounds = 3;

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

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

    /// <summary>Times <paramref name="action"/> run for 0..<paramref name="count"/> and reports it per event.</summary>
    private static void Report(string step, int events, int count, Action<int> action)
    {
        var from = Now();
        for (var i = 0; i < count; i++)
        {
            action(i);
        }

        Line(step, Now() - from, events);
    }

    private static void Report(string step, int events, Action action)
    {
        var rounds = new List<double>();
        for (var round = 0; round < Rounds; round++)
        {
            var from = Now();
            for (var i = 0; i < events; i++)
            {
                action();
            }

            rounds.Add(Now() - from);
        }

        Line(step, Median(rounds), events);
    }

    private static void Line(string step, double seconds, int events) =>
        Console.WriteLine($"recorder-breakdown {seconds * 1e6 / events,8:0.0} µs/event  {step}");

    // Wall time of the one thread doing the step: nothing else runs in this host (see RunAsync).
    private static double Now() => Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

    private static long Size(string folder) => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
}
