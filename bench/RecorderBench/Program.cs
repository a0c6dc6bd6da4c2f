// The recorder as the data path uses it: one session, EVENTS events of about 1 KB each (an HTTP exchange as
// recorded) enqueued as fast as the queue takes them, timed until the writer has committed the last one, each
// chained and stored in compressed chunks. Then the first page (100 events) of that session, read as the console
// would, its replay opened and a seek, the catch-up of the search index, and where each event's time goes (Breakdown.cs).
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

var session = new Session
{
    ConnectionId = Guid.NewGuid(),
    ConnectionName = "bench",
    Subject = "recorder-bench",
    StartedAt = DateTime.UtcNow,
    Status = SessionStatus.Open,
};
recorder.Enqueue(session);
var content = Hoop.Data.Records.RecordJson.Write(Breakdown.Sample());

var watch = Stopwatch.StartNew();
for (var i = 1; i <= events; i++)
{
    var e = new SessionEvent { SessionId = session.Id, Sequence = i, At = DateTime.UtcNow, Kind = "http", Summary = $"GET /v1/customers/{i} 200", Content = content };
    while (!recorder.Enqueue(e))
    {
        await Task.Delay(1); // Queue full: the writer is the limit, which is what is measured.
    }
}

await recorder.FlushAsync(CancellationToken.None);
watch.Stop();
Console.WriteLine($"recorder-bench events {events} seconds {watch.Elapsed.TotalSeconds:0.00} per-second {events / watch.Elapsed.TotalSeconds:0}");

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
var index = app.Services.GetRequiredService<SearchIndex>();
var catchUp = Stopwatch.StartNew();
await index.IndexAsync(CancellationToken.None);
catchUp.Stop();
Console.WriteLine($"recorder-bench search-index caught up {catchUp.Elapsed.TotalSeconds:0.00} s after the last event was written");

await app.StopAsync();

// Then each step of an event's recording alone.
await Breakdown.RunAsync(Build, Path.Combine(args[0], "breakdown"), events);
