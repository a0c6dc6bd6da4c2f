using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Hoop.Proxy.Masking;
using Hoop.Proxy.Model;
using Hoop.Proxy.Recording;
using static Hoop.Proxy.Postgres.PgPending;

namespace Hoop.Proxy.Postgres;

/// <summary>The agent's side of the relay: each message it sends, checked by the guardrails before the database gets it.</summary>
public sealed partial class PgRelay
{
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
}
