using System.Data.Common;
using System.Text;
using System.Text.Json;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Hoop.Proxy.Recording;

/// <summary>One search hit: the event, its session, and the matching text with the match in [brackets].</summary>
public sealed record SearchHit(long EventId, Guid SessionId, int Sequence, string Kind, string Summary, DateTime At, string Snippet);

/// <summary>
/// Full-text search over recorded content: an SQLite FTS5 table (SessionEventSearch, made by a migration) that
/// this indexer fills in the order events were written, within about a second, so the recorder's writes stay as
/// cheap as they are. While the recorder has a backlog it indexes one batch a second and no more, so it neither
/// competes with the recorder nor falls behind for good. Content is indexed as stored, that is masked: a search
/// finds only what anyone may see; what is indexed of it is its values (<see cref="TextOf"/>).
/// </summary>
public sealed partial class SearchIndex(IDbContextFactory<HoopDbContext> contexts, Recorder recorder, TimeProvider time, ILogger<SearchIndex> logger)
    : BackgroundService
{
    public const string IndexedThroughSetting = "search.indexed-through";

    /// <summary>
    /// Events per transaction once the recorder is idle: each commit adds a segment that FTS5 merges later, so
    /// fewer, larger ones cost less per event.
    /// </summary>
    public const int BatchSize = 1000;

    /// <summary>Events per transaction while the recorder has a backlog: a core is held a few milliseconds at a time, so requests on a small machine do not queue behind it.</summary>
    public const int BusyBatchSize = 200;

    private const long MaxBatchChars = 4 * 1024 * 1024;
    private readonly SemaphoreSlim _running = new(1, 1);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Periodic.RunAsync(TimeSpan.FromSeconds(1), time,
        IndexAsync, LogIndexFailed, stoppingToken);

    /// <summary>Indexes every event written so far; one batch only while the recorder has a backlog (it comes first).</summary>
    public async Task IndexAsync(CancellationToken cancellationToken)
    {
        await _running.WaitAsync(cancellationToken);
        try
        {
            while (await IndexBatchAsync(recorder.Pending == 0 ? BatchSize : BusyBatchSize, cancellationToken) && recorder.Pending == 0)
            {
            }
        }
        finally
        {
            _running.Release();
        }
    }

    private async Task<bool> IndexBatchAsync(int size, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        // Read and indexed in one write transaction: retention cannot purge an event between the two and leave it indexed.
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var through = long.TryParse(await db.Settings.AsNoTracking().Where(s => s.Key == IndexedThroughSetting).Select(s => s.Value)
            .FirstOrDefaultAsync(cancellationToken), out var last) ? last : 0;
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
        var text = new StringBuilder(content.Length);
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(content));
        string? property = null;
        var namedDepth = -1; // Inside "headers" or "masked", whose keys are names worth finding.
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        property = reader.GetString();
                        break;
                    case JsonTokenType.StartObject when property is "headers" or "masked":
                        namedDepth = reader.CurrentDepth;
                        break;
                    case JsonTokenType.EndObject when reader.CurrentDepth == namedDepth:
                        namedDepth = -1;
                        break;
                    case JsonTokenType.String or JsonTokenType.Number when namedDepth >= 0 && reader.CurrentDepth == namedDepth + 1:
                        text.Append(property).Append(": ").Append(Value(ref reader)).Append('\n');
                        break;
                    case JsonTokenType.String:
                    case JsonTokenType.Number when property is not ("durationMs" or "bytes" or "v"):
                        text.Append(Value(ref reader)).Append('\n');
                        break;
                }
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Not written by Hoop (changed in the store; a lone surrogate fails GetString): indexed as it is.
            return content;
        }

        return text.ToString();

        static string Value(ref Utf8JsonReader reader) =>
            reader.TokenType == JsonTokenType.String ? reader.GetString()! : Encoding.UTF8.GetString(reader.ValueSpan);
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
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var connection = db.Database.GetDbConnection();
        await db.Database.OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT s.rowid, e.SessionId, e.Sequence, e.Kind, e.Summary, e.At, snippet(SessionEventSearch, 1, '[', ']', '…', 16)
            FROM SessionEventSearch s JOIN SessionEvents e ON e.Id = s.rowid
            WHERE SessionEventSearch MATCH $match ORDER BY rank LIMIT $limit
            """;
        Add(command, "$match", match);
        Add(command, "$limit", Math.Clamp(limit, 1, 500));
        var hits = new List<SearchHit>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            hits.Add(new SearchHit(reader.GetInt64(0), Guid.Parse(reader.GetString(1)), reader.GetInt32(2), reader.GetString(3), reader.GetString(4),
                DateTime.SpecifyKind(reader.GetDateTime(5), DateTimeKind.Utc), reader.GetString(6)));
        }

        return hits;
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
