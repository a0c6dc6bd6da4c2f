// The recorder as the data path uses it: one session, EVENTS events of about 1 KB each (an HTTP exchange as
// recorded) enqueued as fast as the queue takes them, timed until the writer has committed the last one, each
// chained and stored in compressed chunks. Then the first page (100 events) of that session, read as the console
// would, its replay opened and a seek, the catch-up of the search index, a burst at a steady rate with the index's
// lag and catch-up, and where each event's time goes (Breakdown.cs).
//   RecorderBench <data folder> [events]
using System.Diagnostics;
using Hoop.Admin.Hosting;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Hoop.Proxy.Recording;
using Microsoft.AspNetCore.Builder;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

var events = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
var settings = new Dictionary<string, string?>
{
    ["Hoop:DataFolder"] = args[0],
    ["Hoop:ConsoleUrl"] = "https://localhost:0",
    ["Hoop:ProxyPort"] = "0",
    ["Hoop:PostgresPort"] = "0",
    ["Hoop:AcmeHttpPort"] = "0",
    ["Hoop:Recording:QueueCapacity"] = "20000",
    ["HOOP_ADMIN_PASSWORD"] = "bench-admin-password",
    ["Serilog:MinimumLevel:Default"] = "Warning",
};
WebApplication Build(string dataFolder) =>
    HoopHost.Build([], TextWriter.Null, c => c.AddInMemoryCollection(new Dictionary<string, string?>(settings) { ["Hoop:DataFolder"] = dataFolder }));
await using var app = Build(args[0]);
await app.StartAsync();
var recorder = app.Services.GetRequiredService<Recorder>();

var content = Hoop.Data.Records.RecordJson.Write(Breakdown.Sample());
Session Open(string subject)
{
    var session = new Session { ConnectionId = Guid.NewGuid(), ConnectionName = "bench", Subject = subject, StartedAt = DateTime.UtcNow, Status = SessionStatus.Open };
    recorder.Enqueue(session);
    return session;
}

async Task EnqueueAsync(Session session, int sequence)
{
    var e = new SessionEvent { SessionId = session.Id, Sequence = sequence, At = DateTime.UtcNow, Kind = "http", Summary = $"GET /v1/customers/{sequence} 200", Content = content };
    while (!recorder.Enqueue(e))
    {
        await Task.Delay(1); // Queue full: the writer is the limit, which is what is measured.
    }
}

async Task<Session> RecordAsync(int count)
{
    var session = Open("recorder-bench");
    for (var i = 1; i <= count; i++)
    {
        await EnqueueAsync(session, i);
    }

    await recorder.FlushAsync(CancellationToken.None);
    return session;
}

// A warm-up session first, so the timed one measures the writer at its pace rather than the JIT's first passes.
await RecordAsync(Math.Min(events, 30_000));
// Three timed sessions, the median reported: this machine's noise moves a single run by half.
var rounds = new List<(double PerSecond, double CpuMicroseconds)>();
Session session = null!;
for (var round = 0; round < 3; round++)
{
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var watch = Stopwatch.StartNew();
    session = await RecordAsync(events);
    watch.Stop();
    cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
    rounds.Add((events / watch.Elapsed.TotalSeconds, cpu.TotalMicroseconds / events));
}

var median = rounds.OrderBy(r => r.PerSecond).ElementAt(1);
Console.WriteLine($"recorder-bench events {events} per-second {median.PerSecond:0} (median of {string.Join(", ", rounds.Select(r => r.PerSecond.ToString("0", System.Globalization.CultureInfo.InvariantCulture)))}) " +
    $"process-cpu {median.CpuMicroseconds:0.0} µs/event (writer, producer loop and the index under its budget)");

var contexts = app.Services.GetRequiredService<IDbContextFactory<HoopDbContext>>();
var page = Stopwatch.StartNew();
await using (var db = await contexts.CreateDbContextAsync())
{
    var first = await Hoop.Data.Records.RecordedEvents.PageAsync(db, session.Id, 0, 100, CancellationToken.None);
    page.Stop();
    Console.WriteLine($"recorder-bench first-page {first.Count} events in {page.Elapsed.TotalMilliseconds:0.0} ms (of a {events}-event session)");
}

// What the replay page loads to open: the timeline (every event's sequence and kind), then the first page.
var activity = app.Services.GetRequiredService<Hoop.Admin.Management.ActivityQueries>();
var open = Stopwatch.StartNew();
var (sequences, _) = await activity.TimelineAsync(session.Id, withReviewers: true, CancellationToken.None);
var firstPage = await activity.EventsPageAsync(session.Id, sequences[0], 200, CancellationToken.None);
open.Stop();
Console.WriteLine($"recorder-bench replay-open timeline of {sequences.Count} and a page of {firstPage.Count} in {open.Elapsed.TotalMilliseconds:0} ms (first replay since start)");
// Opened again: what every later replay costs, once EF Core has compiled the queries.
open.Restart();
(sequences, _) = await activity.TimelineAsync(session.Id, withReviewers: true, CancellationToken.None);
firstPage = await activity.EventsPageAsync(session.Id, sequences[0], 200, CancellationToken.None);
open.Stop();
Console.WriteLine($"recorder-bench replay-open-again timeline of {sequences.Count} and a page of {firstPage.Count} in {open.Elapsed.TotalMilliseconds:0} ms");
var seek = Stopwatch.StartNew();
var middle = await activity.EventsPageAsync(session.Id, sequences[sequences.Count / 2], 200, CancellationToken.None);
seek.Stop();
Console.WriteLine($"recorder-bench replay-seek to event {sequences.Count / 2} ({middle.Count} events) in {seek.Elapsed.TotalMilliseconds:0.0} ms");

// The search indexer runs beside the writer but yields to it: what it has left once the writer is done, and how long it takes.
async Task<int> UnindexedAsync()
{
    await using var db = await contexts.CreateDbContextAsync();
    var through = long.TryParse(await db.Settings.Where(s => s.Key == SearchIndex.ChunksIndexedThroughSetting).Select(s => s.Value).FirstOrDefaultAsync(),
        System.Globalization.CultureInfo.InvariantCulture, out var id) ? id : 0;
    return await db.SessionChunks.Where(c => c.Id > through).SumAsync(c => c.Count);
}

var index = app.Services.GetRequiredService<SearchIndex>();
var left = await UnindexedAsync();
var catchUp = Stopwatch.StartNew();
await index.IndexAsync(CancellationToken.None);
catchUp.Stop();
Console.WriteLine($"recorder-bench search-index {left} events behind once the writer was done, caught up in {catchUp.Elapsed.TotalSeconds:0.00} s");

// A burst at a steady rate (by default about what Hoop serves under HTTP saturation here) with the indexer in the
// background under its budget: how far it lags when the burst ends, and how long it takes to catch up on its own.
var burstSeconds = int.Parse(Environment.GetEnvironmentVariable("BURST_SECONDS") ?? "60", System.Globalization.CultureInfo.InvariantCulture);
var burstRate = int.Parse(Environment.GetEnvironmentVariable("BURST_RATE") ?? "12000", System.Globalization.CultureInfo.InvariantCulture);
if (burstSeconds > 0)
{
    var burst = Open("recorder-burst");
    var clock = Stopwatch.StartNew();
    var sent = 0;
    while (clock.Elapsed.TotalSeconds < burstSeconds)
    {
        for (var due = (int)(clock.Elapsed.TotalSeconds * burstRate); sent < due;)
        {
            await EnqueueAsync(burst, ++sent);
        }

        await Task.Delay(1);
    }

    await recorder.FlushAsync(CancellationToken.None);
    var ended = clock.Elapsed;
    var behind = await UnindexedAsync();
    while (await UnindexedAsync() > 0)
    {
        await Task.Delay(100);
    }

    Console.WriteLine($"recorder-bench burst {sent} events in {burstSeconds} s ({burstRate}/s): index {behind} events behind at its end, " +
        $"caught up {(clock.Elapsed - ended).TotalSeconds:0.0} s later (the indexer's own pace once writes stop)");
}

await app.StopAsync();

// Then each step of an event's recording alone.
await Breakdown.RunAsync(Build, Path.Combine(args[0], "breakdown"), events);
