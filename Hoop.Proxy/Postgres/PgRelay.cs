using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hoop.Data.Entities;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Policy;
using Hoop.Proxy.Recording;

namespace Hoop.Proxy.Postgres;

/// <summary>What every relay shares.</summary>
public sealed record PgRelayServices(SqlGuardrailCheck Guardrails, Recorder Recorder, RecordingOptions Recording, TimeProvider Time);

/// <summary>
/// One agent's Postgres session after start-up: two pumps, agent to database and back. Frames Hoop does not need
/// to read are copied as they are. Queries (simple, and extended: Parse/Bind/Execute) are checked by the guardrails
/// before they are sent; results are masked row by row on their way back; each query and its result is recorded.
/// </summary>
/// <remarks>
/// Order is what keeps this simple: the database answers messages in the order they were sent, so the pumps share
/// one queue of what was sent (queries, Describes, Syncs) and the database's answers are matched to its head. A
/// refused query is still sent, rewritten into one the database rejects with a marker Hoop recognises (a syntax
/// error, or a Bind of a statement that does not exist), and that error is replaced by Hoop's: the agent sees the
/// refusal in the right place in a pipeline, and a transaction block fails exactly as on any other error.
/// </remarks>
public sealed class PgRelay(
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
    private readonly Masker _response = snapshot.MaskersFor(caller, connection).Response;
    private readonly Masker _recording = snapshot.MaskersFor(caller, connection).Recording;
    private readonly Masker _request = snapshot.MaskersFor(caller, connection).Request;
    private readonly string _marker = "hoop_refused_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
    private readonly Queue<Sent> _sent = new();

    // Agent pump only: prepared statements by name, the query of each bound portal, the portal the agent described last.
    private readonly Dictionary<string, Prepared> _statements = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Bound> _portals = new(StringComparer.Ordinal);
    private string? _describedPortal;
    private int _refusals;

    // Backend pump only: the columns of the rows now arriving.
    private PgColumn[]? _columns;
    private bool _maskRows;

    private const int MaxPreparedStatements = 10_000;

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
        if (fatal is not null)
        {
            // Both pumps are done, so nothing else writes to the agent now.
            try
            {
                await agentWriter.WriteAsync(fatal);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException)
            {
                // The agent is gone already.
            }
        }

        lock (_sent)
        {
            foreach (var query in _sent.OfType<Query>())
            {
                query.Error ??= "the session ended before the database answered";
                Record(query);
            }

            _sent.Clear();
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
    }

    /// <summary>Handles one message from the agent; false when the agent ended the session.</summary>
    private async Task<bool> FromAgentAsync(PgMessage message, ReadOnlySequence<byte> frame, CancellationToken cancellationToken)
    {
        switch ((char)message.Type)
        {
            case 'Q':
            {
                var sql = new PgReader(message.Body.ToArray()).CString();
                var query = new Query(sql, Simple: true) { At = services.Time.GetUtcNow().UtcDateTime, Started = Stopwatch.GetTimestamp() };
                query.Stop = await services.Guardrails.CheckAsync(caller, connection, snapshot, !_response.IsEmpty, sql, null, null, cancellationToken);
                Send(query);
                if (query.Stop is null)
                {
                    Write(backend.Writer, frame);
                }
                else
                {
                    backend.Writer.Write(PgWire.Query(Refusal(query.Stop)));
                }

                return true;
            }

            case 'P':
            {
                var reader = new PgReader(message.Body.ToArray());
                var name = reader.CString();
                if (name.Length > 0 && !_statements.ContainsKey(name) && _statements.Count >= MaxPreparedStatements)
                {
                    throw new PgProtocolException("54000", $"more than {MaxPreparedStatements} prepared statements in one session; close some first");
                }

                var sql = reader.CString();
                var types = new int[Math.Max((short)0, reader.Int16())];
                for (var i = 0; i < types.Length; i++)
                {
                    types[i] = reader.Int32();
                }

                _statements[name] = new Prepared(sql, types);
                Write(backend.Writer, frame);
                return true;
            }

            case 'B':
                await BindAsync(message, frame, cancellationToken);
                return true;

            case 'D':
            {
                var reader = new PgReader(message.Body.ToArray());
                var kind = reader.Byte();
                _describedPortal = kind == 'P' ? reader.CString() : null;
                Send(new Describe(Inserted: false));
                Write(backend.Writer, frame);
                return true;
            }

            case 'E':
            {
                var portal = new PgReader(message.Body.ToArray()).CString();
                var bound = _portals.GetValueOrDefault(portal);
                var query = new Query(bound?.Sql ?? "(a portal Hoop did not see bound)", Simple: false)
                {
                    At = services.Time.GetUtcNow().UtcDateTime,
                    Started = Stopwatch.GetTimestamp(),
                    Parameters = bound?.Parameters,
                    Stop = bound?.Stop,
                };
                if (bound is not null)
                {
                    // Masked parameters count once, with the portal's first run.
                    query.Counts.Add(bound.Counts);
                    _portals[portal] = bound with { Counts = new MaskingCounts() };
                }

                if (_describedPortal != portal)
                {
                    // The rows' columns must be known to mask them: ask, and keep the answer from the agent, who did not.
                    backend.Writer.Write(new PgBuilder().Byte((byte)'P').CString(portal).Message((byte)'D'));
                    Send(new Describe(Inserted: true));
                }

                _describedPortal = null;
                Send(query);
                Write(backend.Writer, frame);
                return true;
            }

            case 'C':
            {
                var reader = new PgReader(message.Body.ToArray());
                var kind = reader.Byte();
                var name = reader.CString();
                _ = kind == 'S' ? _statements.Remove(name) : _portals.Remove(name);
                Write(backend.Writer, frame);
                return true;
            }

            case 'S':
                Send(new Sync());
                Write(backend.Writer, frame);
                return true;

            case 'H' or 'd' or 'c' or 'f':
                Write(backend.Writer, frame);
                return true;

            case 'X':
                Write(backend.Writer, frame);
                return false;

            case 'F':
                throw new PgProtocolException("0A000", "fast-path function calls are not relayed by Hoop: no guardrail or recording could see them");

            default:
                throw new PgProtocolException("08P01", $"invalid frontend message type {message.Type}");
        }
    }

    /// <summary>A Bind: the query it will run is checked now, when its parameters are known.</summary>
    private async Task BindAsync(PgMessage message, ReadOnlySequence<byte> frame, CancellationToken cancellationToken)
    {
        var body = message.Body.ToArray();
        var reader = new PgReader(body);
        var portal = reader.CString();
        var statement = reader.CString();
        var formatCount = reader.Int16();
        var formats = new short[Math.Max((short)0, formatCount)];
        for (var i = 0; i < formats.Length; i++)
        {
            formats[i] = reader.Int16();
        }

        var valuesAt = reader.Position;
        var count = reader.Int16();
        if (count < 0 || formatCount < 0 || (formatCount > 1 && formatCount != count))
        {
            throw new PgProtocolException("08P01", "invalid Bind message: parameter and format counts do not agree");
        }

        var values = new byte[]?[count];
        for (var i = 0; i < count; i++)
        {
            var length = reader.Int32();
            values[i] = length < 0 ? null : reader.Bytes(length).ToArray();
        }

        var rest = reader.Rest().ToArray(); // The result formats.
        bool Text(int i) => formats.Length == 0 || formats[formats.Length == 1 ? 0 : i] == 0;

        var counts = new MaskingCounts();
        var masked = false;
        if (_request.HasPatterns)
        {
            // Request-direction rules mask what the agent sends in text parameters before the database stores it.
            for (var i = 0; i < count; i++)
            {
                if (values[i] is { } value && Text(i))
                {
                    var original = Encoding.UTF8.GetString(value);
                    var replaced = _request.MaskText(original, counts);
                    if (!ReferenceEquals(replaced, original))
                    {
                        values[i] = Encoding.UTF8.GetBytes(replaced);
                        masked = true;
                    }
                }
            }
        }

        var prepared = _statements.GetValueOrDefault(statement);
        var sql = prepared?.Sql ?? $"(prepared statement \"{statement}\", not seen by Hoop)";
        int TypeOf(int i) => prepared is not null && i < prepared.Types.Length ? prepared.Types[i] : 0;
        var shown = values.Select((v, i) => v is null ? null : MaskRecorded(Text(i) ? Encoding.UTF8.GetString(v) : PgRows.DisplayBinary(v, TypeOf(i)), counts)).ToList();
        var digest = SHA256.HashData(body.AsSpan(valuesAt));
        var stop = await services.Guardrails.CheckAsync(caller, connection, snapshot, !_response.IsEmpty, sql, shown, digest, cancellationToken);
        _portals[portal] = new Bound(sql, shown, stop, counts);
        if (stop is not null)
        {
            backend.Writer.Write(new PgBuilder().CString(portal).CString(Refusal(stop)).Int16(0).Int16(0).Int16(0).Message((byte)'B'));
        }
        else if (masked)
        {
            var rebuilt = new PgBuilder().CString(portal).CString(statement).Int16(formatCount);
            foreach (var format in formats)
            {
                rebuilt.Int16(format);
            }

            rebuilt.Int16(count);
            foreach (var value in values)
            {
                rebuilt.Int32(value?.Length ?? -1).Bytes(value);
            }

            backend.Writer.Write(rebuilt.Bytes(rest).Message((byte)'B'));
        }
        else
        {
            Write(backend.Writer, frame);
        }
    }

    /// <summary>A name the database will refuse, carrying this refusal's marker and number; its error is replaced by Hoop's.</summary>
    private string Refusal(PgStop stop)
    {
        var number = ++_refusals;
        lock (_sent)
        {
            _refusalsByNumber[number] = stop;
            if (_refusalsByNumber.Count > 1000)
            {
                _refusalsByNumber.Remove(_refusalsByNumber.Keys.First());
            }
        }

        return $"{_marker}_{number}";
    }

    /// <summary>Refusals sent and not yet answered. One skipped after an earlier error is never answered: cleared by the next answered.</summary>
    private readonly SortedDictionary<int, PgStop> _refusalsByNumber = [];

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
                    if (FromBackend(message, frame) is { } ended)
                    {
                        backend.Reader.AdvanceTo(buffer.Start);
                        await agentWriter.FlushAsync(cancellationToken);
                        return ended;
                    }
                }

                backend.Reader.AdvanceTo(buffer.Start, buffer.End);
                await agentWriter.FlushAsync(cancellationToken);
                if (result.IsCompleted)
                {
                    return ("The database closed the connection.", null);
                }
            }
        }
        catch (PgProtocolException e)
        {
            return ($"The database broke the protocol: {e.Message}.", PgWire.Error("FATAL", "08P01", "the database sent a message Hoop could not read; the session is closed"));
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
    }

    /// <summary>Handles one message from the database; non-null ends the session (with the fatal error to send).</summary>
    private (string, byte[]?)? FromBackend(PgMessage message, ReadOnlySequence<byte> frame)
    {
        switch ((char)message.Type)
        {
            case 'T':
            {
                var inserted = false;
                lock (_sent)
                {
                    if (_sent.TryPeek(out var head) && head is Describe describe)
                    {
                        _sent.Dequeue();
                        inserted = describe.Inserted;
                    }
                }

                _columns = PgRows.Describe(message.Body.ToArray(), _response, _recording);
                _maskRows = PgRows.Masks(_response, _columns, response: true);
                if (Head() is { } query)
                {
                    query.Columns ??= _columns;
                }

                if (!inserted)
                {
                    Write(agentWriter, frame);
                }

                return null;
            }

            case 'n':
            {
                var inserted = false;
                lock (_sent)
                {
                    if (_sent.TryPeek(out var head) && head is Describe describe)
                    {
                        _sent.Dequeue();
                        inserted = describe.Inserted;
                    }
                }

                _columns = null;
                if (!inserted)
                {
                    Write(agentWriter, frame);
                }

                return null;
            }

            case 'D':
                Row(message, frame);
                return null;

            case 'C':
            {
                var tag = new PgReader(message.Body.ToArray()).CString();
                if (Head() is { } query)
                {
                    query.Tags.Add(tag);
                    if (!query.Simple)
                    {
                        Complete();
                    }
                }

                Write(agentWriter, frame);
                return null;
            }

            case 'I' or 's':
                if (Head() is { Simple: false })
                {
                    Complete();
                }

                Write(agentWriter, frame);
                return null;

            case 'E':
                Error(message, frame);
                return null;

            case 'Z':
                lock (_sent)
                {
                    // Everything sent before this Sync (or simple query) is answered; what was not run was skipped after an error.
                    while (_sent.TryDequeue(out var sent))
                    {
                        if (sent is Query query)
                        {
                            if (!query.Simple && query.Error is null && query.Tags.Count == 0)
                            {
                                query.Error = "not run: an earlier message of the same pipeline failed";
                            }

                            Record(query);
                            if (query.Simple)
                            {
                                break;
                            }
                        }
                        else if (sent is Sync)
                        {
                            break;
                        }
                    }

                }

                Write(agentWriter, frame);
                return null;

            case 'S':
            {
                var reader = new PgReader(message.Body.ToArray());
                var name = reader.CString();
                var value = reader.CString();
                if (name == "standard_conforming_strings" && value != "on")
                {
                    return ("The session turned standard_conforming_strings off.", PgWire.Error("FATAL", "0A000",
                        "standard_conforming_strings must stay on through Hoop (its guardrails read SQL strings that way); the session is closed"));
                }

                if (name == "client_encoding" && value != "UTF8")
                {
                    return ($"The session changed client_encoding to {value}.", PgWire.Error("FATAL", "0A000",
                        "client_encoding must stay UTF8 through Hoop (masking reads results as UTF-8); the session is closed"));
                }

                Write(agentWriter, frame);
                return null;
            }

            case 'K':
                // The agent has Hoop's key; the database's stays with Hoop.
                return null;

            default:
                Write(agentWriter, frame);
                return null;
        }
    }

    private void Row(PgMessage message, ReadOnlySequence<byte> frame)
    {
        var query = Head();
        var record = session is not null && query is not null && query.Rows.Count < services.Recording.MaxRows;
        if (!_maskRows && !record)
        {
            if (query is not null)
            {
                query.RowCount++;
            }

            Write(agentWriter, frame);
            return;
        }

        var values = PgRows.Values(message.Body.ToArray());
        var counts = query?.Counts ?? new MaskingCounts();
        var columns = _columns ?? [];
        if (_maskRows && _columns is null)
        {
            throw new MaskingException("rows arrived without a description of their columns");
        }

        var sent = _maskRows ? PgRows.Mask(values, columns, _response, response: true, counts) : values;
        if (query is not null)
        {
            query.RowCount++;
            if (record)
            {
                // Recorded as the recording's rules mask them: the agent's masked row when the rules are the same.
                var recorded = _recording.IsEmpty ? values
                    : _recording.SameRulesAs(_response) ? sent
                    : PgRows.Mask(values, columns, _recording, response: false, _response.IsEmpty ? counts : new MaskingCounts());
                query.Rows.Add(recorded.Select((v, i) => PgRows.Display(v, i < columns.Length ? columns[i] : null)).ToArray());
            }
        }

        if (ReferenceEquals(sent, values))
        {
            Write(agentWriter, frame);
        }
        else
        {
            PgRows.WriteRow(agentWriter, sent);
        }
    }

    private void Error(PgMessage message, ReadOnlySequence<byte> frame)
    {
        var fields = PgWire.Fields(message.Body.ToArray());
        var text = fields.GetValueOrDefault('M') ?? "";
        PgStop? stop = null;
        lock (_sent)
        {
            var at = text.IndexOf(_marker + "_", StringComparison.Ordinal);
            if (at >= 0)
            {
                var digits = text[(at + _marker.Length + 1)..].TakeWhile(char.IsAsciiDigit).ToArray();
                if (int.TryParse(digits, out var number))
                {
                    _refusalsByNumber.TryGetValue(number, out stop);
                    foreach (var done in _refusalsByNumber.Keys.TakeWhile(k => k <= number).ToList())
                    {
                        _refusalsByNumber.Remove(done);
                    }
                }

                stop ??= new PgStop("denied", "42501", "refused by Hoop", null, null);
            }

            // After an error the database skips everything up to the next Sync: Describes included.
            while (_sent.TryPeek(out var head) && head is Describe)
            {
                _sent.Dequeue();
            }
        }

        var query = Head();
        if (query is not null)
        {
            query.Error = stop is null ? $"{fields.GetValueOrDefault('C')}: {text}" : $"{stop.SqlState}: {stop.Message}";
            if (!query.Simple)
            {
                Complete();
            }
        }

        if (stop is null)
        {
            Write(agentWriter, frame);
        }
        else
        {
            agentWriter.Write(PgWire.Error("ERROR", stop.SqlState, stop.Message, stop.Detail));
        }
    }

    /// <summary>The query whose answer is arriving: the head of what was sent, if it is a query.</summary>
    private Query? Head()
    {
        lock (_sent)
        {
            return _sent.TryPeek(out var head) ? head as Query : null;
        }
    }

    private void Complete()
    {
        lock (_sent)
        {
            if (_sent.TryPeek(out var head) && head is Query query)
            {
                _sent.Dequeue();
                Record(query);
            }
        }
    }

    private void Send(Sent sent)
    {
        lock (_sent)
        {
            _sent.Enqueue(sent);
        }
    }

    private static void Write(PipeWriter writer, ReadOnlySequence<byte> frame)
    {
        foreach (var segment in frame)
        {
            writer.Write(segment.Span);
        }
    }

    /// <summary>Query text and parameters as recorded (the request rules never change query text, so these count).</summary>
    private string MaskRecorded(string text, MaskingCounts counts) => _recording.IsEmpty ? text : _recording.MaskText(text, counts);

    private void Record(Query query)
    {
        if (session is null)
        {
            return;
        }

        var elapsed = query.Started == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(query.Started);
        var sql = MaskRecorded(query.Sql, query.Counts);
        session.AddMasked(query.Counts);
        var content = new
        {
            query = sql,
            protocol = query.Simple ? "simple" : "extended",
            parameters = query.Parameters,
            columns = query.Columns?.Select(c => c.Name),
            rows = query.Rows.Count == 0 ? null : query.Rows,
            rowCount = query.RowCount,
            rowsTruncated = query.RowCount > query.Rows.Count,
            commands = query.Tags,
            error = query.Error,
            rule = query.Stop?.Rule,
            masked = query.Counts.Total == 0 ? null : query.Counts.ByDetector,
            tls = new { inbound = inboundTls, upstream = backend.Tls, verification = connection.TlsVerification.ToString() },
            durationMs = elapsed.TotalMilliseconds,
        };
        var line = sql.ReplaceLineEndings(" ");
        services.Recorder.Enqueue(new SessionEvent
        {
            SessionId = session.Id,
            Sequence = session.NextSequence(),
            At = query.At,
            Kind = query.Stop is { } stop ? $"sql-{stop.Verdict}" : "sql",
            Summary = $"{(line.Length > 120 ? line[..120] + "…" : line)} ({(query.Error is null ? $"{query.RowCount} rows" : "error")})",
            Content = JsonSerializer.Serialize(content, JsonOptions),
            DurationMicroseconds = (long)(elapsed.TotalMilliseconds * 1000),
        });
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    /// <summary>A prepared statement: its text and the parameter types the agent declared (0: left to the database).</summary>
    private sealed record Prepared(string Sql, int[] Types);

    /// <summary>A bound portal: the query its Executes run, with parameters as recorded, and Hoop's refusal if refused.</summary>
    private sealed record Bound(string Sql, IReadOnlyList<string?> Parameters, PgStop? Stop, MaskingCounts Counts);

    /// <summary>What was sent to the database and awaits its answer, in order.</summary>
    private abstract record Sent;

    private sealed record Sync : Sent;

    /// <summary>A Describe; <paramref name="Inserted"/> when Hoop added it, so its answer is not the agent's.</summary>
    private sealed record Describe(bool Inserted) : Sent;

    /// <summary>A simple query, or an extended query's Execute, with what the recording keeps of its answer.</summary>
    private sealed record Query(string Sql, bool Simple) : Sent
    {
        public DateTime At { get; init; }
        public long Started { get; init; }
        public IReadOnlyList<string?>? Parameters { get; init; }
        public PgStop? Stop { get; set; }
        public MaskingCounts Counts { get; init; } = new();
        public PgColumn[]? Columns { get; set; }
        public List<string?[]> Rows { get; } = [];
        public long RowCount { get; set; }
        public List<string> Tags { get; } = [];
        public string? Error { get; set; }
    }
}
