using System.Buffers;
using Hoop.Proxy.Guardrails;
using Hoop.Proxy.Masking;
using static Hoop.Proxy.Postgres.PgPending;

namespace Hoop.Proxy.Postgres;

/// <summary>The database's side of the relay: each answer matched to what was sent, rows masked, queries recorded when they end.</summary>
public sealed partial class PgRelay
{
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

                stop ??= new PgStop(GuardrailStop.Denied, "42501", "refused by Hoop", null, null);
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
}
