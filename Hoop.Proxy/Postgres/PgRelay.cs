using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Proxy.Credentials;
using Hoop.Proxy.Identity;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Policy;
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

    /// <summary>Handles one message from the agent; false when the agent ended the session.</summary>
    private async Task<bool> FromAgentAsync(PgMessage message, ReadOnlySequence<byte> frame, CancellationToken cancellationToken)
    {
        if ((FrontendMessage)message.Type is FrontendMessage.Query or FrontendMessage.Execute && snapshot.Recording.Mode == RecordingMode.Required)
        {
            // A query is recorded when its answer ends: while the recording queue is full, wait a moment for room
            // rather than run it and then close the session because its record could not be queued.
            await services.Recorder.WaitForRoomAsync(Recorder.RoomWait, cancellationToken);
        }

        switch ((FrontendMessage)message.Type)
        {
            case FrontendMessage.Query:
            {
                var sql = new PgReader(message.Body.ToArray()).CString();
                var query = new Query(sql, Simple: true) { At = services.Time.GetUtcNow().UtcDateTime, Started = Stopwatch.GetTimestamp() };
                query.Stop = await CheckAsync(PgCheckPoint.Query, sql, null, null, query.ApprovedBy, cancellationToken);
                _pending.Send(query);
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

            case FrontendMessage.Parse:
                await ParseAsync(message, frame, cancellationToken);
                return true;

            case FrontendMessage.Bind:
                await BindAsync(message, frame, cancellationToken);
                return true;

            case FrontendMessage.Describe:
                _pending.Send(new Describe(Inserted: false));
                Write(backend.Writer, frame);
                return true;

            case FrontendMessage.Execute:
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
                query.ApprovedBy.AddRange(bound?.ApprovedBy ?? []);
                if (bound is not null)
                {
                    // Masked parameters count once, with the portal's first run.
                    query.Counts.Add(bound.Counts);
                    _portals[portal] = bound with { Counts = new MaskingCounts() };
                }

                // The rows' columns must be known to mask and record them: always ask, and keep the answer from
                // the agent, who did not (an agent's own Describe may be of another binding of the same portal).
                backend.Writer.Write(new PgBuilder().Byte((byte)'P').CString(portal).Message((byte)FrontendMessage.Describe));
                _pending.Send(new Describe(Inserted: true));
                _pending.Send(query);
                Write(backend.Writer, frame);
                return true;
            }

            case FrontendMessage.Close:
            {
                var reader = new PgReader(message.Body.ToArray());
                var kind = reader.Byte();
                var name = reader.CString();
                if (kind == 'P')
                {
                    _portals.Remove(name);
                }

                _pending.Send(new Close(kind == 'S' ? name : null));
                Write(backend.Writer, frame);
                return true;
            }

            case FrontendMessage.Sync:
                _pending.Send(new Sync());
                Write(backend.Writer, frame);
                return true;

            case FrontendMessage.Flush or FrontendMessage.CopyData or FrontendMessage.CopyDone or FrontendMessage.CopyFail:
                Write(backend.Writer, frame);
                return true;

            case FrontendMessage.Terminate:
                Volatile.Write(ref _agentTerminated, true);
                Write(backend.Writer, frame);
                return false;

            case FrontendMessage.FunctionCall:
                throw new PgProtocolException("0A000", "fast-path function calls are not relayed by Hoop: no guardrail or recording could see them");

            default:
                throw new PgProtocolException("08P01", $"invalid frontend message type {message.Type}");
        }
    }

    /// <summary>
    /// A Parse: a named statement is checked whole now (SQL's EXECUTE can run it with no Bind); the unnamed one
    /// against deny rules, its reviews waiting for the Bind. A refused statement never reaches the database.
    /// </summary>
    private async Task ParseAsync(PgMessage message, ReadOnlySequence<byte> frame, CancellationToken cancellationToken)
    {
        var reader = new PgReader(message.Body.ToArray());
        var name = reader.CString();
        var sql = reader.CString();
        var types = new int[Math.Max((short)0, reader.Int16())];
        for (var i = 0; i < types.Length; i++)
        {
            types[i] = reader.Int32();
        }

        _pending.EnsureRoomFor(sql);

        var approvedBy = new List<Guid>();
        var stop = await CheckAsync(name.Length > 0 ? PgCheckPoint.ParseNamed : PgCheckPoint.ParseUnnamed, sql, null, null, approvedBy, cancellationToken);
        if (stop is null)
        {
            _pending.Send(new Parse(name, new Prepared(sql, types, approvedBy)));
            Write(backend.Writer, frame);
            return;
        }

        // Recorded here: no Execute will follow a statement that never exists.
        Record(new Query(sql, Simple: false) { At = services.Time.GetUtcNow().UtcDateTime, Stop = stop, Error = $"{stop.SqlState}: {stop.Message}" });
        _pending.Send(new Parse(name, null));
        backend.Writer.Write(new PgBuilder().CString(name).CString(Refusal(stop)).Int16(0).Message((byte)FrontendMessage.Parse));
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
        if (_maskers.Request.HasPatterns)
        {
            // Request-direction rules mask what the agent sends in text parameters before the database stores it.
            for (var i = 0; i < count; i++)
            {
                if (values[i] is { } value && Text(i))
                {
                    var original = Encoding.UTF8.GetString(value);
                    var replaced = _maskers.Request.MaskText(original, counts);
                    if (!ReferenceEquals(replaced, original))
                    {
                        values[i] = Encoding.UTF8.GetBytes(replaced);
                        masked = true;
                    }
                }
            }
        }

        // Every text the statement's name may stand for: the confirmed one, and any whose Parse is still unanswered.
        var candidates = _pending.Candidates(statement);
        var first = candidates.FirstOrDefault();
        int TypeOf(int i) => first is not null && i < first.Types.Length ? first.Types[i] : 0;
        var shown = values.Select((v, i) => v is null ? null : Cut(MaskRecorded(Text(i) ? Encoding.UTF8.GetString(v) : PgRows.DisplayBinary(v, TypeOf(i)), counts)))
            .ToList();
        var digest = SHA256.HashData(body.AsSpan(valuesAt));
        PgStop? stop = null;
        var approvedBy = new List<Guid>(first?.ApprovedBy ?? []); // A named statement's review approved it at its Parse.
        foreach (var candidate in candidates)
        {
            stop ??= await CheckAsync(statement.Length > 0 ? PgCheckPoint.BindNamed : PgCheckPoint.BindUnnamed, candidate.Sql, shown, digest, approvedBy,
                cancellationToken);
        }

        if (!_portals.ContainsKey(portal) && _portals.Count >= MaxPortals)
        {
            throw new PgProtocolException("54000", $"more than {MaxPortals} open portals in one session; close some first");
        }

        _portals[portal] = new Bound(first?.Sql ?? $"(prepared statement \"{statement}\", not known to Hoop)", shown, stop, counts,
            stop is null ? approvedBy : []);
        _pending.Send(new Bind());
        if (stop is not null)
        {
            backend.Writer.Write(new PgBuilder().CString(portal).CString(Refusal(stop)).Int16(0).Int16(0).Int16(0).Message((byte)FrontendMessage.Bind));
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

            backend.Writer.Write(rebuilt.Bytes(rest).Message((byte)FrontendMessage.Bind));
        }
        else
        {
            Write(backend.Writer, frame);
        }
    }

    private Task<PgStop?> CheckAsync(PgCheckPoint point, string sql, IReadOnlyList<string?>? parameters, byte[]? digest, List<Guid> approvedBy,
        CancellationToken cancellationToken) =>
        services.Guardrails.CheckAsync(point, caller, connection, session?.Id, snapshot, !_maskers.Response.IsEmpty, sql, parameters, digest, approvedBy, cancellationToken);

    /// <summary>A name the database will refuse, carrying this refusal's marker and number; its error is replaced by Hoop's.</summary>
    private string Refusal(PgStop stop)
    {
        var number = ++_refusals;
        lock (_refusalsByNumber)
        {
            _refusalsByNumber[number] = stop;
            if (_refusalsByNumber.Count > 1000)
            {
                _refusalsByNumber.Remove(_refusalsByNumber.Keys.First());
            }
        }

        return $"{_marker}_{number}";
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

    /// <summary>Handles one message from the database; non-null ends the session (with the fatal error to send).</summary>
    private (string, byte[]?)? FromBackend(PgMessage message, ReadOnlySequence<byte> frame)
    {
        switch ((BackendMessage)message.Type)
        {
            case BackendMessage.ParseComplete:
                _pending.ParseComplete();
                Write(agentWriter, frame);
                return null;

            case BackendMessage.BindComplete:
                _pending.Take<Bind>("BindComplete");
                Write(agentWriter, frame);
                return null;

            case BackendMessage.CloseComplete:
                _pending.CloseComplete();
                Write(agentWriter, frame);
                return null;

            case BackendMessage.ParameterDescription:
                _pending.Peek<Describe>("ParameterDescription");
                Write(agentWriter, frame);
                return null;

            case BackendMessage.RowDescription:
            {
                var inserted = false;
                var head = _pending.Peek<Sent>("RowDescription");
                if (head is Describe describe)
                {
                    _pending.Take<Describe>("RowDescription");
                    inserted = describe.Inserted;
                }
                else if (head is not Query { Simple: true })
                {
                    throw new PgProtocolException("08P01", $"a RowDescription answered {head.GetType().Name}");
                }

                _columns = PgRows.Describe(message.Body.ToArray(), _maskers.Response, _maskers.Recording);
                _maskRows = PgRows.Masks(_maskers.Response, _columns, response: true);
                if (_pending.Head() is { } query)
                {
                    query.Columns ??= _columns;
                }

                if (!inserted)
                {
                    Write(agentWriter, frame);
                }

                return null;
            }

            case BackendMessage.NoData:
            {
                var describe = _pending.Take<Describe>("NoData");
                _columns = null;
                _maskRows = false;
                if (!describe.Inserted)
                {
                    Write(agentWriter, frame);
                }

                return null;
            }

            case BackendMessage.DataRow:
                Row(message, frame);
                return null;

            case BackendMessage.CommandComplete:
            {
                var query = _pending.Peek<Query>("CommandComplete");
                query.Tags.Add(new PgReader(message.Body.ToArray()).CString());
                if (!query.Simple)
                {
                    Complete();
                }

                Write(agentWriter, frame);
                return null;
            }

            case BackendMessage.EmptyQueryResponse or BackendMessage.PortalSuspended:
                if (!_pending.Peek<Query>("EmptyQueryResponse or PortalSuspended").Simple)
                {
                    Complete();
                }

                Write(agentWriter, frame);
                return null;

            case BackendMessage.ErrorResponse:
                Error(message, frame);
                return null;

            case BackendMessage.ReadyForQuery:
                ReadyForQuery();
                Write(agentWriter, frame);
                return null;

            case BackendMessage.ParameterStatus:
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

                if (_maskers.Response.HasPatterns && MaskText(value) is { } masked)
                {
                    agentWriter.Write(new PgBuilder().CString(name).CString(masked).Message((byte)BackendMessage.ParameterStatus));
                    return null;
                }

                Write(agentWriter, frame);
                return null;
            }

            case BackendMessage.NoticeResponse:
                if (_maskers.Response.HasPatterns)
                {
                    agentWriter.Write(MaskFields(message.Body.ToArray(), (byte)BackendMessage.NoticeResponse));
                    return null;
                }

                Write(agentWriter, frame);
                return null;

            case BackendMessage.NotificationResponse:
                if (_maskers.Response.HasPatterns)
                {
                    // A notification's payload is data like any other: pg_notify('c', email).
                    var reader = new PgReader(message.Body.ToArray());
                    var process = reader.Int32();
                    var channel = reader.CString();
                    var payload = reader.CString();
                    agentWriter.Write(new PgBuilder().Int32(process).CString(MaskText(channel) ?? channel).CString(MaskText(payload) ?? payload).Message((byte)BackendMessage.NotificationResponse));
                    return null;
                }

                Write(agentWriter, frame);
                return null;

            case BackendMessage.BackendKeyData:
                // The agent has Hoop's key; the database's stays with Hoop.
                return null;

            default:
                Write(agentWriter, frame);
                return null;
        }
    }

    private void Row(PgMessage message, ReadOnlySequence<byte> frame)
    {
        var query = _pending.Peek<Query>("DataRow");
        // Rows are kept up to a count and a size: a row of wide values must not make one event huge.
        var record = session is not null && query.Rows.Count < services.Recording.MaxRows && query.RecordedChars < services.Recording.MaxBodyBytes;
        if (!_maskRows && !record)
        {
            query.RowCount++;
            Write(agentWriter, frame);
            return;
        }

        var values = PgRows.Values(message.Body.ToArray());
        var columns = _columns ?? [];
        if (_maskRows && values.Length != columns.Length)
        {
            throw new MaskingException($"a row of {values.Length} values arrived for {columns.Length} described columns");
        }

        var sent = _maskRows ? PgRows.Mask(values, columns, _maskers.Response, response: true, query.Counts) : values;
        query.RowCount++;
        if (record)
        {
            // Recorded as the recording's rules mask them: the agent's masked row when the rules are the same.
            var recorded = _maskers.Recording.IsEmpty ? values
                : _maskers.Recording.SameRulesAs(_maskers.Response) ? sent
                : PgRows.Mask(values, columns, _maskers.Recording, response: false, _maskers.Response.IsEmpty ? query.Counts : new MaskingCounts());
            var row = recorded.Select((v, i) => Cut(PgRows.Display(v, i < columns.Length ? columns[i] : null))).ToArray();
            query.RecordedChars += row.Sum(v => v?.Length ?? 0);
            query.Rows.Add(row);
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
        var body = message.Body.ToArray();
        var fields = PgWire.Fields(body);
        var text = fields.GetValueOrDefault('M') ?? "";
        PgStop? stop = null;
        lock (_refusalsByNumber)
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
        }

        var query = _pending.Failed();

        if (query is not null)
        {
            query.Error = stop is null ? Cut($"{fields.GetValueOrDefault('C')}: {MaskText(text) ?? text}") : $"{stop.SqlState}: {stop.Message}";
            if (!query.Simple)
            {
                Complete();
            }
        }

        if (stop is not null)
        {
            agentWriter.Write(PgWire.Error("ERROR", stop.SqlState, stop.Message, stop.Detail));
        }
        else if (_maskers.Response.HasPatterns)
        {
            // An error can quote a value ("invalid input syntax for type integer: \"ada@example.com\"").
            agentWriter.Write(MaskFields(body, (byte)BackendMessage.ErrorResponse));
        }
        else
        {
            Write(agentWriter, frame);
        }
    }

    private void ReadyForQuery()
    {
        foreach (var query in _pending.ReadyForQuery())
        {
            Record(query);
        }
    }

    private void Complete() => Record(_pending.Take<Query>("the end of a result"));

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
            secretReflected = reflected.Count == 0 ? null : reflected,
            rule = query.Stop?.Rule,
            approvedBy = query.Stop is null && query.ApprovedBy.Count > 0 ? query.ApprovedBy.Distinct() : null,
            masked = query.Counts.Total == 0 ? null : query.Counts.ByDetector,
            tls = new { inbound = inboundTls, upstream = backend.Tls, verification = connection.TlsVerification.ToString() },
            durationMs = elapsed.TotalMilliseconds,
        };
        var line = sql.ReplaceLineEndings(" ");
        var queued = services.Recorder.Enqueue(new SessionEvent
        {
            SessionId = session.Id,
            Sequence = session.NextSequence(),
            At = query.At,
            Kind = query.Stop is { } stop ? $"sql-{stop.Verdict}" : "sql",
            Summary = $"{(line.Length > 120 ? line[..120] + "…" : line)} ({(query.Error is null ? $"{query.RowCount} rows" : "error")})",
            Content = JsonSerializer.Serialize(content, JsonOptions),
            DurationMicroseconds = (long)(elapsed.TotalMilliseconds * 1000),
            Marks = (query.Counts.Total == 0 ? EventMarks.None : EventMarks.Masked)
                | (query.Stop is null && query.Error is not null ? EventMarks.Error : EventMarks.None)
                | (query.Stop is null && query.ApprovedBy.Count > 0 ? EventMarks.Approved : EventMarks.None),
        });
        if (!queued && snapshot.Recording.Mode == RecordingMode.Required)
        {
            Volatile.Write(ref _recordingLost, true);
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    [LoggerMessage(5011, LogLevel.Warning, "The database of {Connection} sent its stored password back ({Where}); it was replaced before the agent got it")]
    private static partial void LogSecretReflected(ILogger logger, string connection, string where);

    [LoggerMessage(5010, LogLevel.Error, "The Postgres relay for {Connection} failed")]
    private static partial void LogRelayFailed(ILogger logger, Exception error, string connection);

    /// <summary>A bound portal: the query its Executes run, with parameters as recorded, and Hoop's refusal if refused.</summary>
    private sealed record Bound(string Sql, IReadOnlyList<string?> Parameters, PgStop? Stop, MaskingCounts Counts, IReadOnlyList<Guid> ApprovedBy);
}
