using System.Globalization;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Serilog.Core;
using Serilog.Events;

namespace Hoop.Data.Logging;

/// <summary>
/// Serilog sink that writes log events into the store's LogEvents table in batches.
/// The queue is bounded: when it is full, events are dropped and counted; logging never waits for the disk.
/// Events logged before the store is migrated wait in the queue until <see cref="Start"/>.
/// </summary>
public sealed class SqliteLogSink : ILogEventSink, IDisposable, IAsyncDisposable
{
    private const int BatchSize = 256;

    private readonly Channel<LogEvent> _queue;
    private Task? _writer;
    private long _dropped;
    private long _written;

    public SqliteLogSink(int capacity)
    {
        _queue = Channel.CreateBounded<LogEvent>(new BoundedChannelOptions(capacity)
        {
            // Wait mode makes TryWrite report a full queue (the Drop modes accept and discard silently);
            // nothing ever waits, since only TryWrite is used.
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
    }

    /// <summary>Events dropped because the queue was full, since start.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Events written to the store, since start.</summary>
    public long Written => Interlocked.Read(ref _written);

    public void Emit(LogEvent logEvent)
    {
        if (!_queue.Writer.TryWrite(logEvent))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    /// <summary>Starts the writer once the LogEvents table exists.</summary>
    public void Start(string connectionString) => _writer ??= Task.Run(() => WriteLoopAsync(connectionString));

    private async Task WriteLoopAsync(string connectionString)
    {
        var batch = new List<LogEvent>(BatchSize);
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (batch.Count < BatchSize && _queue.Reader.TryRead(out var e))
            {
                batch.Add(e);
            }

            try
            {
                await WriteBatchAsync(connectionString, batch).ConfigureAwait(false);
                Interlocked.Add(ref _written, batch.Count);
            }
            catch (SqliteException)
            {
                // The store is unwritable (disk full, locked too long): these lines are lost, and counted.
                // Logging the failure here would feed the same queue, so the count is the signal.
                Interlocked.Add(ref _dropped, batch.Count);
            }

            batch.Clear();
        }
    }

    private static async Task WriteBatchAsync(string connectionString, List<LogEvent> batch)
    {
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        await using var transaction = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.CommandText =
            "INSERT INTO LogEvents (Timestamp, Level, Category, EventId, Message, Exception) VALUES ($t, $l, $c, $e, $m, $x)";
        var t = command.Parameters.Add("$t", SqliteType.Text);
        var l = command.Parameters.Add("$l", SqliteType.Text);
        var c = command.Parameters.Add("$c", SqliteType.Text);
        var id = command.Parameters.Add("$e", SqliteType.Integer);
        var m = command.Parameters.Add("$m", SqliteType.Text);
        var x = command.Parameters.Add("$x", SqliteType.Text);
        foreach (var e in batch)
        {
            // Same text form EF Core uses for DateTime, so queries through the model read it back.
            t.Value = e.Timestamp.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture);
            l.Value = e.Level.ToString();
            c.Value = Scalar(e, "SourceContext") ?? (object)DBNull.Value;
            id.Value = EventId(e);
            m.Value = e.RenderMessage(CultureInfo.InvariantCulture);
            x.Value = e.Exception?.ToString() ?? (object)DBNull.Value;
            await command.ExecuteNonQueryAsync().ConfigureAwait(false);
        }

        await transaction.CommitAsync().ConfigureAwait(false);
    }

    private static string? Scalar(LogEvent e, string name) =>
        e.Properties.TryGetValue(name, out var value) && value is ScalarValue { Value: string s } ? s : null;

    private static int EventId(LogEvent e) =>
        e.Properties.TryGetValue("EventId", out var value)
        && value is StructureValue structure
        && structure.Properties.FirstOrDefault(p => p.Name == "Id")?.Value is ScalarValue { Value: int id }
            ? id
            : 0;

    /// <summary>Writes what is queued (for a few seconds at most) and stops.</summary>
    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _writer?.Wait(TimeSpan.FromSeconds(5));
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        if (_writer is not null)
        {
            await _writer.ConfigureAwait(false);
        }
    }
}
