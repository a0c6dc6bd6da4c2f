using System.Buffers;
using System.Data.Common;
using System.Text;
using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Data.Records;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Recording;

/// <summary>
/// One search hit: the event (by session and sequence; <paramref name="EventId"/> only for an event stored as a
/// row), and the matching text with the match in [brackets].
/// </summary>
public sealed record SearchHit(long? EventId, Guid SessionId, int Sequence, string Kind, string Summary, DateTime At, string Snippet);

/// <summary>
/// Full-text search over recorded content, in SQLite FTS5 tables made by migrations: one document per chunk of
/// events (SessionChunkSearch, rowid = the chunk's id) and, for stores written before chunks, one per event row
/// (SessionEventSearch). This indexer fills them in the order written, within about a second, never on the
/// request path. While the recorder is writing it works within a CPU budget (<see cref="BusyBudget"/>), so under
/// load it lags rather than competes with the data path, and it catches up once load drops. Content is indexed as
/// stored, that is masked: a search finds only what anyone may see; what is indexed of it is its values
/// (<see cref="TextOf(string)"/>). A hit in a chunk
/// names the event in it that holds the words, with a snippet of that event.
/// </summary>
public sealed partial class SearchIndex(IDbContextFactory<HoopDbContext> contexts, Recorder recorder, TimeProvider time, ILogger<SearchIndex> logger)
    : BackgroundService
{
    public const string IndexedThroughSetting = "search.indexed-through";
    public const string ChunksIndexedThroughSetting = "search.chunks-indexed-through";

    /// <summary>
    /// Events per transaction once the recorder is idle: each commit adds a segment that FTS5 merges later, so
    /// fewer, larger ones cost less per event.
    /// </summary>
    public const int BatchSize = 1000;

    /// <summary>Events per transaction while the recorder is writing: a core is held a few milliseconds at a time, so requests on a small machine do not queue behind it.</summary>
    public const int BusyBatchSize = 200;

    /// <summary>
    /// The indexer's CPU budget while the recorder is writing: at most this much of each second (a tenth of one
    /// core). Under sustained load the index lags; it catches up at full speed in the first second without writes,
    /// and yields again as soon as writes resume.
    /// </summary>
    public static readonly TimeSpan BusyBudget = TimeSpan.FromMilliseconds(100);

    private const long MaxBatchChars = 4 * 1024 * 1024;
    private readonly SemaphoreSlim _running = new(1, 1);
    private long _lastWritten;

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Periodic.RunAsync(TimeSpan.FromSeconds(1), time,
        TickAsync, LogIndexFailed, stoppingToken);

    /// <summary>Indexes everything written so far, now and without a budget (tests, benchmarks).</summary>
    public Task IndexAsync(CancellationToken cancellationToken) => RunAsync(yieldToWriter: false, cancellationToken);

    /// <summary>A second's work: everything while the recorder is idle, at most <see cref="BusyBudget"/> while it writes.</summary>
    private Task TickAsync(CancellationToken cancellationToken) => RunAsync(yieldToWriter: true, cancellationToken);

    private async Task RunAsync(bool yieldToWriter, CancellationToken cancellationToken)
    {
        await _running.WaitAsync(cancellationToken);
        try
        {
            var started = time.GetTimestamp();
            // Looked at before every batch, so a catch-up at full speed yields as soon as the recorder writes again.
            var busy = yieldToWriter && WriterBusy();
            // Event rows of older stores first, then chunks; a batch at a time until done or out of budget.
            while (!(busy && time.GetElapsedTime(started) >= BusyBudget)
                && (await IndexBatchAsync(busy ? BusyBatchSize : BatchSize, cancellationToken)
                    || await IndexChunksAsync(busy ? BusyBatchSize : BatchSize, cancellationToken)))
            {
                busy = yieldToWriter && (WriterBusy() || busy);
            }
        }
        finally
        {
            _running.Release();
        }
    }

    /// <summary>True when the recorder has written since the last look.</summary>
    private bool WriterBusy()
    {
        var written = recorder.Written;
        return Interlocked.Exchange(ref _lastWritten, written) != written;
    }

    /// <summary>Indexes chunks, one document each, until about <paramref name="events"/> events; true when there may be more.</summary>
    private async Task<bool> IndexChunksAsync(int events, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // Read and indexed in one write transaction: retention cannot purge a chunk between the two and leave it indexed.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var through = await WatermarkAsync(db, ChunksIndexedThroughSetting, cancellationToken);
        var documents = new List<(long Id, byte[] Text)>();
        var count = 0;
        var chars = 0L;
        var text = new ArrayBufferWriter<byte>(EventChunk.TargetBytes);
        var scratch = new ArrayBufferWriter<byte>(4096);
        await foreach (var chunk in db.SessionChunks.AsNoTracking().Where(c => c.Id > through).OrderBy(c => c.Id).AsAsyncEnumerable()
            .WithCancellation(cancellationToken))
        {
            // Straight from the frames' UTF-8 to the document's: no string per event or per value.
            var data = EventChunk.Open(chunk);
            text.ResetWrittenCount();
            foreach (var frame in EventChunk.Layout(data))
            {
                text.Write(data.AsSpan(frame.Summary));
                text.Write("\n"u8);
                TextOf(data.AsSpan(frame.Content), text, scratch);
            }

            documents.Add((chunk.Id, text.WrittenSpan.ToArray()));
            count += chunk.Count;
            chars += text.WrittenCount;
            if (count >= events || chars >= MaxBatchChars)
            {
                break;
            }
        }

        if (documents.Count == 0)
        {
            return false;
        }

        await using (var insert = db.Database.GetDbConnection().CreateCommand())
        {
            insert.Transaction = transaction.GetDbTransaction();
            // The document's UTF-8 bound as it is: CAST makes it text without a trip through a .NET string.
            insert.CommandText = "INSERT INTO SessionChunkSearch (rowid, Text) VALUES ($id, CAST($text AS TEXT))";
            var id = Add(insert, "$id", 0L);
            var value = Add(insert, "$text", Array.Empty<byte>());
            foreach (var document in documents)
            {
                id.Value = document.Id;
                value.Value = document.Text;
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await db.PutSettingAsync(ChunksIndexedThroughSetting, documents[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
            time.GetUtcNow().UtcDateTime, cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return count >= events || chars >= MaxBatchChars;
    }

    private static async Task<long> WatermarkAsync(HoopDbContext db, string setting, CancellationToken cancellationToken) =>
        long.TryParse(await db.Settings.AsNoTracking().Where(s => s.Key == setting).Select(s => s.Value).FirstOrDefaultAsync(cancellationToken),
            out var last) ? last : 0;

    private async Task<bool> IndexBatchAsync(int size, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // Read and indexed in one write transaction: retention cannot purge an event between the two and leave it indexed.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var through = await WatermarkAsync(db, IndexedThroughSetting, cancellationToken);
        // Events carry bodies of up to the recording limit each: a batch also ends at about MaxBatchChars of them,
        // so it holds the write lock briefly whatever was recorded.
        var batch = new List<(long Id, string Summary, string Content)>();
        var chars = 0L;
        await foreach (var e in db.SessionEvents.AsNoTracking().Where(e => e.Id > through).OrderBy(e => e.Id).Take(size)
            .Select(e => new { e.Id, e.Summary, e.Content }).AsAsyncEnumerable().WithCancellation(cancellationToken))
        {
            batch.Add((e.Id, e.Summary, e.Content));
            chars += e.Content.Length;
            if (chars >= MaxBatchChars)
            {
                break;
            }
        }

        if (batch.Count == 0)
        {
            return false;
        }

        // One command for the batch: SQLite prepares the statement once instead of once per event.
        await using (var insert = db.Database.GetDbConnection().CreateCommand())
        {
            insert.Transaction = transaction.GetDbTransaction();
            insert.CommandText = "INSERT INTO SessionEventSearch (rowid, Summary, Content) VALUES ($id, $summary, $content)";
            var id = Add(insert, "$id", 0L);
            var summary = Add(insert, "$summary", "");
            var content = Add(insert, "$content", "");
            foreach (var e in batch)
            {
                id.Value = e.Id;
                summary.Value = e.Summary;
                content.Value = TextOf(e.Content);
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await db.PutSettingAsync(IndexedThroughSetting, batch[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture), time.GetUtcNow().UtcDateTime,
            cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return batch.Count == size || chars >= MaxBatchChars;
    }

    /// <summary>
    /// What is indexed of an event's recorded content: its values a line each, headers and masking counts as
    /// "name: value", without the JSON's other keys and punctuation that every event shares, nor its durations,
    /// byte counts and flags. Half the words to index, and snippets an auditor can read.
    /// </summary>
    internal static string TextOf(string content)
    {
        var text = new ArrayBufferWriter<byte>(content.Length);
        TextOf(Encoding.UTF8.GetBytes(content), text, new ArrayBufferWriter<byte>(content.Length));
        return Encoding.UTF8.GetString(text.WrittenSpan);
    }

    /// <summary>
    /// <see cref="TextOf(string)"/> on UTF-8, appended to <paramref name="output"/> without a string per value: the
    /// indexer's path over a chunk's frames. <paramref name="scratch"/> is reused between calls.
    /// </summary>
    internal static void TextOf(ReadOnlySpan<byte> content, ArrayBufferWriter<byte> output, ArrayBufferWriter<byte> scratch)
    {
        scratch.ResetWrittenCount();
        var reader = new Utf8JsonReader(content);
        Span<byte> property = stackalloc byte[128];
        var propertyLength = 0;
        var named = false; // The property is "headers" or "masked", whose keys are names worth finding.
        var skipped = false; // The property is a duration, a byte count or the version.
        var namedDepth = -1;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        named = reader.ValueTextEquals("headers"u8) || reader.ValueTextEquals("masked"u8);
                        skipped = reader.ValueTextEquals("durationMs"u8) || reader.ValueTextEquals("bytes"u8) || reader.ValueTextEquals("v"u8);
                        propertyLength = namedDepth >= 0 && reader.CurrentDepth == namedDepth + 1 && reader.ValueSpan.Length <= property.Length
                            ? reader.CopyString(property) : 0;
                        break;
                    case JsonTokenType.StartObject when named:
                        namedDepth = reader.CurrentDepth;
                        break;
                    case JsonTokenType.EndObject when reader.CurrentDepth == namedDepth:
                        namedDepth = -1;
                        break;
                    case JsonTokenType.String or JsonTokenType.Number when namedDepth >= 0 && reader.CurrentDepth == namedDepth + 1:
                        scratch.Write(property[..propertyLength]);
                        scratch.Write(": "u8);
                        WriteValue(ref reader, scratch);
                        break;
                    case JsonTokenType.String:
                    case JsonTokenType.Number when !skipped:
                        WriteValue(ref reader, scratch);
                        break;
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Not written by Hoop (changed in the store; a lone surrogate fails to unescape): indexed as it is.
            output.Write(content);
            return;
        }

        output.Write(scratch.WrittenSpan);

        static void WriteValue(ref Utf8JsonReader reader, ArrayBufferWriter<byte> to)
        {
            if (reader.ValueIsEscaped)
            {
                // Unescaped is never longer than escaped.
                to.Advance(reader.CopyString(to.GetSpan(reader.ValueSpan.Length + 1)));
            }
            else
            {
                to.Write(reader.ValueSpan);
            }

            to.Write("\n"u8);
        }
    }

    /// <summary>
    /// The events whose recorded content or summary holds every word of <paramref name="text"/> (each word taken
    /// literally, not as FTS5 syntax), best matches first.
    /// </summary>
    public async Task<List<SearchHit>> SearchAsync(string text, int limit, CancellationToken cancellationToken)
    {
        var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0)
        {
            return [];
        }

        var match = string.Join(' ', words.Select(w => $"\"{w.Replace("\"", "\"\"", StringComparison.Ordinal)}\""));
        limit = Math.Clamp(limit, 1, 500);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        await db.Database.OpenConnectionAsync(cancellationToken);
        var hits = new List<(double Rank, SearchHit Hit)>();
        await using (var rows = db.Database.GetDbConnection().CreateCommand())
        {
            rows.CommandText = """
                SELECT s.rowid, e.SessionId, e.Sequence, e.Kind, e.Summary, e.At, snippet(SessionEventSearch, 1, '[', ']', '…', 16), rank
                FROM SessionEventSearch s JOIN SessionEvents e ON e.Id = s.rowid
                WHERE SessionEventSearch MATCH $match ORDER BY rank LIMIT $limit
                """;
            Add(rows, "$match", match);
            Add(rows, "$limit", limit);
            await using var reader = await rows.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                hits.Add((reader.GetDouble(7), new SearchHit(reader.GetInt64(0), Guid.Parse(reader.GetString(1)), reader.GetInt32(2), reader.GetString(3),
                    reader.GetString(4), DateTime.SpecifyKind(reader.GetDateTime(5), DateTimeKind.Utc), reader.GetString(6))));
            }
        }

        var chunks = new List<(long Id, double Rank)>();
        await using (var inChunks = db.Database.GetDbConnection().CreateCommand())
        {
            inChunks.CommandText = "SELECT rowid, rank FROM SessionChunkSearch WHERE SessionChunkSearch MATCH $match ORDER BY rank LIMIT $limit";
            Add(inChunks, "$match", match);
            Add(inChunks, "$limit", limit);
            await using var reader = await inChunks.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                chunks.Add((reader.GetInt64(0), reader.GetDouble(1)));
            }
        }

        foreach (var (id, rank) in chunks)
        {
            if (await db.SessionChunks.AsNoTracking().FirstOrDefaultAsync(c => c.Id == id, cancellationToken) is { } chunk)
            {
                hits.Add((rank, HitIn(chunk, words)));
            }
        }

        return [.. hits.OrderBy(h => h.Rank).Take(limit).Select(h => h.Hit)];
    }

    /// <summary>The first event of a chunk whose text holds every word (the index matched the chunk as a whole), with a snippet of it.</summary>
    private static SearchHit HitIn(SessionChunk chunk, string[] words)
    {
        var events = EventChunk.Read(chunk);
        foreach (var e in events)
        {
            var text = e.Summary + "\n" + TextOf(e.Content);
            if (words.All(w => text.Contains(w, StringComparison.OrdinalIgnoreCase)))
            {
                return new SearchHit(null, chunk.SessionId, e.Sequence, e.Kind, e.Summary, e.At, Snippet(text, words));
            }
        }

        // Matched by the index's folding (diacritics) rather than by the words as typed: the chunk's first event.
        var first = events[0];
        return new SearchHit(null, chunk.SessionId, first.Sequence, first.Kind, first.Summary, first.At, Snippet(first.Summary + "\n" + TextOf(first.Content), words));
    }

    /// <summary>About 120 characters of <paramref name="text"/> around the first word found, each word in [brackets], as the index's snippets read.</summary>
    internal static string Snippet(string text, string[] words)
    {
        var at = words.Select(w => text.IndexOf(w, StringComparison.OrdinalIgnoreCase)).Where(i => i >= 0).DefaultIfEmpty(0).Min();
        var start = Math.Max(0, at - 40);
        var end = Math.Min(text.Length, at + 80);
        var window = text[start..end].ReplaceLineEndings(" ");
        foreach (var word in words.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            window = System.Text.RegularExpressions.Regex.Replace(window, System.Text.RegularExpressions.Regex.Escape(word), m => $"[{m.Value}]",
                System.Text.RegularExpressions.RegexOptions.IgnoreCase, TimeSpan.FromSeconds(1));
        }

        return (start > 0 ? "…" : "") + window + (end < text.Length ? "…" : "");
    }

    private static DbParameter Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
        return parameter;
    }

    [LoggerMessage(7020, LogLevel.Warning, "Indexing recorded content for search failed; retrying")]
    private partial void LogIndexFailed(Exception error);
}
