using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Records;
using Hoop.Proxy.Credentials;
using Hoop.Proxy.Guardrails;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Model;
using Hoop.Proxy.Recording;
using Microsoft.Extensions.Logging;
using static Hoop.Proxy.Postgres.PgPending;

namespace Hoop.Proxy.Postgres;

/// <summary>What every relay shares.</summary>
public sealed record PgRelayServices(SqlGuardrailCheck Guardrails, Recorder Recorder, RecordingOptions Recording, AuditLog Audit, TimeProvider Time, ILogger<PgRelay> Logger);

/// <summary>
/// One agent's Postgres session after start-up: two pumps, agent to database and back. Frames Hoop does not need
/// to read are copied as they are. Queries (simple, and extended: Parse/Bind/Execute) are checked by the guardrails
/// before they are sent; results are masked row by row on their way back; each query and its result is recorded.
/// </summary>
/// <remarks>
/// Order is what keeps this simple and safe: the database answers messages in the order they were sent, so the
/// pumps share one queue of every message that gets an answer (Parse, Bind, Close, Describe, Execute, Sync, simple
/// Query) and each answer is matched to its head. A prepared statement is known by its text only once the database
/// confirms its Parse; until then a Bind is checked against every text the name may have. After an error the
/// database skips everything up to the next Sync, and so does the queue. Should an answer not match the queue,
/// the session is closed: Hoop never guesses what a result belongs to. A refused query is still sent, rewritten into
/// one the database rejects with a marker Hoop recognises (a syntax error, or a Bind of a statement that does not
/// exist), and that error is replaced by Hoop's: the agent sees the refusal in its place in a pipeline, and a
/// transaction block fails exactly as on any other error.
/// </remarks>
public sealed partial class PgRelay(
    PgRelayServices services,
    Caller caller,
    ConnectionPolicy connection,
    LiveSession? session,
    PolicySnapshot snapshot,
    PipeReader agentReader,
    PipeWriter agentWriter,
    PgBackend backend,
    string inboundTls)
{
    // The rules that apply to this caller on this connection, per direction: worked out once for the session.
    private readonly (Masker Request, Masker Response, Masker Recording) _maskers = snapshot.MaskersFor(caller, connection);
    private readonly string _marker = "hoop_refused_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    // Shared by both pumps: what awaits the database's answer (it locks), and the refusals sent (under their own lock).
    private readonly PgPending _pending = new();
    private readonly SortedDictionary<int, PgStop> _refusalsByNumber = [];
    private bool _recordingLost;

    // Agent pump only.
    private readonly Dictionary<string, Bound> _portals = new(StringComparer.Ordinal);
    private int _refusals;
    private bool _agentTerminated;

    // Backend pump only: the columns of the rows now arriving.
    private PgColumn[]? _columns;
    private bool _maskRows;

    // Where the database sent the stored password back since the last recorded query.
    private readonly SecretReflection _reflected = new();

    private const int MaxPortals = 1_000;
    private const int MaxRecordedValueChars = 4_096;

    /// <summary>Relays until either side ends; returns why, for the session's record.</summary>
    public async Task<string> RunAsync(CancellationToken closed)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(closed);
        var agent = PumpAgentAsync(stop.Token);
        var database = PumpBackendAsync(stop.Token);
        var first = await Task.WhenAny(agent, database);
        await stop.CancelAsync();
        var (reason, fatal) = await first;
        var other = await (first == agent ? database : agent);
        reason ??= other.Reason;
        fatal ??= other.Fatal;
        if (Volatile.Read(ref _agentTerminated))
        {
            // The database closing after the agent's Terminate is its answer to it, whichever pump noticed first.
            reason = "The agent ended the session.";
        }
        if (fatal is not null)
        {
            // Both pumps are done, so nothing else writes to the agent now.
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await agentWriter.WriteAsync(fatal, timeout.Token);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException)
            {
                // The agent is gone already.
            }
        }

        foreach (var query in _pending.Abandon())
        {
            Record(query);
        }

        return reason ?? "The session ended.";
    }

    private async Task<(string? Reason, byte[]? Fatal)> PumpAgentAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var result = await agentReader.ReadAsync(cancellationToken);
                var buffer = result.Buffer;
                while (PgWire.TryReadMessage(ref buffer, out var message, out var frame))
                {
                    if (!await FromAgentAsync(message, frame, cancellationToken))
                    {
                        await backend.Writer.FlushAsync(cancellationToken);
                        return ("The agent ended the session.", null);
                    }
                }

                agentReader.AdvanceTo(buffer.Start, buffer.End);
                await backend.Writer.FlushAsync(cancellationToken);
                if (result.IsCompleted)
                {
                    return buffer.IsEmpty
                        ? ("The agent closed the connection.", null)
                        : ("Protocol violation: the agent's connection ended in the middle of a message.", null);
                }
            }
        }
        catch (PgProtocolException e)
        {
            return ($"Protocol violation by the agent: {e.Message}.", PgWire.Error("FATAL", e.SqlState, e.Message));
        }
        catch (OperationCanceledException)
        {
            return (null, null);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            return ("The agent's connection broke.", null);
        }
        catch (Exception e)
        {
            LogRelayFailed(services.Logger, e, connection.Name);
            return ($"Hoop failed: {e.GetType().Name}.", PgWire.Error("FATAL", "XX000", "Hoop could not relay this session; it is closed"));
        }
    }

    private async Task<(string? Reason, byte[]? Fatal)> PumpBackendAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                var result = await backend.Reader.ReadAsync(cancellationToken);
                var buffer = result.Buffer;
                while (PgWire.TryReadMessage(ref buffer, out var message, out var frame))
                {
                    if (PgSecretScrub.Frame(message, connection.Secrets, out var place) is { } scrubbed)
                    {
                        _reflected.Found(place);
                        frame = new ReadOnlySequence<byte>(scrubbed);
                        message = new PgMessage(message.Type, frame.Slice(5));
                    }

                    if (FromBackend(message, frame) is { } ended)
                    {
                        backend.Reader.AdvanceTo(buffer.Start);
                        await agentWriter.FlushAsync(cancellationToken);
                        return ended;
                    }
                }

                backend.Reader.AdvanceTo(buffer.Start, buffer.End);
                await agentWriter.FlushAsync(cancellationToken);
                if (Volatile.Read(ref _recordingLost))
                {
                    return ("Recording failed, and this gateway serves no unrecorded access.",
                        PgWire.Error("FATAL", "57P03", "Hoop cannot record this session any more, and this gateway serves no unrecorded access; reconnect shortly"));
                }

                if (result.IsCompleted)
                {
                    return ("The database closed the connection.", null);
                }
            }
        }
        catch (PgProtocolException e)
        {
            return ($"The database's answers no longer matched what was sent: {e.Message}.",
                PgWire.Error("FATAL", "08P01", "Hoop lost track of the database's answers; the session is closed"));
        }
        catch (MaskingException e)
        {
            return ($"Masking failed: {e.Message}", PgWire.Error("FATAL", "XX000", $"Hoop could not mask a result value, so the session is closed rather than pass it on: {e.Message}"));
        }
        catch (OperationCanceledException)
        {
            return (null, null);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            return ("The database connection broke.", null);
        }
        catch (Exception e)
        {
            LogRelayFailed(services.Logger, e, connection.Name);
            return ($"Hoop failed: {e.GetType().Name}.", PgWire.Error("FATAL", "XX000", "Hoop could not relay this session; it is closed"));
        }
    }

    private static void Write(PipeWriter writer, ReadOnlySequence<byte> frame)
    {
        foreach (var segment in frame)
        {
            writer.Write(segment.Span);
        }
    }

    /// <summary>Text masked by the response rules' detectors, or null when nothing was found.</summary>
    private string? MaskText(string text)
    {
        if (!_maskers.Response.HasPatterns)
        {
            return null;
        }

        var masked = _maskers.Response.MaskText(text, new MaskingCounts());
        return ReferenceEquals(masked, text) ? null : masked;
    }

    /// <summary>An ErrorResponse or NoticeResponse with every field's text masked.</summary>
    private byte[] MaskFields(byte[] body, byte type)
    {
        var fields = new PgBuilder();
        foreach (var (code, value) in PgWire.Fields(body))
        {
            fields.Byte((byte)code).CString(MaskText(value) ?? value);
        }

        return fields.Byte(0).Message(type);
    }

    /// <summary>Query text and parameters as recorded (the request rules never change query text, so these count).</summary>
    private string MaskRecorded(string text, MaskingCounts counts) => _maskers.Recording.IsEmpty ? text : _maskers.Recording.MaskText(text, counts);

    /// <summary>A recorded value, cut to a length the recording keeps.</summary>
    private static string? Cut(string? value) => value is { Length: > MaxRecordedValueChars } ? value[..MaxRecordedValueChars] + "…" : value;

    private void Record(Query query)
    {
        if (session is null)
        {
            return;
        }

        var elapsed = query.Started == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(query.Started);
        var sql = MaskRecorded(query.Sql, query.Counts);
        if (sql.Length > services.Recording.MaxBodyBytes)
        {
            sql = sql[..services.Recording.MaxBodyBytes] + "…";
        }

        session.AddMasked(query.Counts);
        var reflected = _reflected.Take();
        if (reflected.Count > 0)
        {
            services.Recorder.Enqueue(services.Audit.Create(caller.Subject, "proxy.secret-reflected", connection.Name, AuditOutcome.Denied, new { where = reflected }));
            LogSecretReflected(services.Logger, connection.Name, string.Join(", ", reflected));
        }

        var record = new SqlQueryRecord
        {
            Query = sql,
            Protocol = query.Simple ? "simple" : "extended",
            Parameters = query.Parameters,
            Columns = query.Columns?.Select(c => c.Name).ToArray(),
            Rows = query.Rows.Count == 0 ? null : query.Rows,
            RowCount = query.RowCount,
            RowsTruncated = query.RowCount > query.Rows.Count,
            Commands = query.Tags,
            Error = query.Error,
            SecretReflected = reflected.Count == 0 ? null : reflected,
            Rule = query.Stop?.Rule,
            ApprovedBy = query.Stop is null && query.ApprovedBy.Count > 0 ? query.ApprovedBy.Distinct().ToArray() : null,
            Masked = query.Counts.Total == 0 ? null : query.Counts.ByDetector,
            Tls = new TlsRecord(inboundTls, backend.Tls, connection.TlsVerification.ToString()),
            DurationMs = elapsed.TotalMilliseconds,
        };
        var line = sql.ReplaceLineEndings(" ");
        var queued = services.Recorder.Enqueue(new SessionEvent
        {
            SessionId = session.Id,
            Sequence = session.NextSequence(),
            At = query.At,
            Kind = (query.Stop?.Stop).EventKind(EventKinds.Sql),
            Summary = $"{(line.Length > 120 ? line[..120] + "…" : line)} ({(query.Error is null ? $"{query.RowCount} rows" : "error")})",
            Content = RecordJson.Write(record),
            DurationMicroseconds = (long)(elapsed.TotalMilliseconds * 1000),
            Marks = (query.Counts.Total == 0 ? EventMarks.None : EventMarks.Masked)
                | (query.Stop is null && query.Error is not null ? EventMarks.Error : EventMarks.None)
                | (query.Stop is null && query.ApprovedBy.Count > 0 ? EventMarks.Approved : EventMarks.None)
                | (query.Stop?.Stop).Marks(),
        });
        if (!queued && snapshot.Recording.Mode == RecordingMode.Required)
        {
            Volatile.Write(ref _recordingLost, true);
        }
    }

    [LoggerMessage(5011, LogLevel.Warning, "The database of {Connection} sent its stored password back ({Where}); it was replaced before the agent got it")]
    private static partial void LogSecretReflected(ILogger logger, string connection, string where);

    [LoggerMessage(5010, LogLevel.Error, "The Postgres relay for {Connection} failed")]
    private static partial void LogRelayFailed(ILogger logger, Exception error, string connection);

    /// <summary>A bound portal: the query its Executes run, with parameters as recorded, and Hoop's refusal if refused.</summary>
    private sealed record Bound(string Sql, IReadOnlyList<string?> Parameters, PgStop? Stop, MaskingCounts Counts, IReadOnlyList<Guid> ApprovedBy);
}
