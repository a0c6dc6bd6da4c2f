using System.Buffers;
using Hoop.Proxy.Credentials;

namespace Hoop.Proxy.Postgres;

/// <summary>
/// The database's messages that carry data back to the agent (rows, errors, notices, notifications, parameter
/// values, COPY data, function results), rebuilt without the stored password wherever it occurs. A message is
/// rebuilt field by field, so lengths and field codes stay right; all others pass as they are.
/// </summary>
internal static class PgSecretScrub
{
    /// <summary>The message's whole frame rebuilt without the secret, or null when it holds none (the common case).</summary>
    public static byte[]? Frame(PgMessage message, SecretScrubber secrets, out string place)
    {
        place = "";
        if (secrets.IsEmpty || !Carries(message.Type))
        {
            return null;
        }

        var body = message.Body.IsSingleSegment ? message.Body.FirstSpan : message.Body.ToArray();
        if (!secrets.Contains(body))
        {
            return null;
        }

        switch ((char)message.Type)
        {
            case 'D':
            {
                place = "row";
                var values = PgRows.Values(body);
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = values[i] is { } value ? secrets.Scrub(value, out _) ?? value : null;
                }

                var row = new ArrayBufferWriter<byte>(body.Length + 8);
                PgRows.WriteRow(row, values);
                return row.WrittenSpan.ToArray();
            }

            case 'E' or 'N':
            {
                place = message.Type == (byte)'E' ? "error" : "notice";
                var fields = new PgBuilder();
                foreach (var (code, value) in PgWire.Fields(body))
                {
                    fields.Byte((byte)code).CString(secrets.Scrub(value, out _));
                }

                return fields.Byte(0).Message(message.Type);
            }

            case 'A':
            {
                place = "notification";
                var reader = new PgReader(body);
                var process = reader.Int32();
                var channel = reader.CString();
                var payload = reader.CString();
                return new PgBuilder().Int32(process).CString(secrets.Scrub(channel, out _)).CString(secrets.Scrub(payload, out _)).Message(message.Type);
            }

            case 'S':
            {
                place = "parameter status";
                var reader = new PgReader(body);
                var name = reader.CString();
                var value = reader.CString();
                return new PgBuilder().CString(name).CString(secrets.Scrub(value, out _)).Message(message.Type);
            }

            case 'V':
            {
                place = "function result";
                var reader = new PgReader(body);
                var length = reader.Int32();
                if (length < 0)
                {
                    return null;
                }

                var scrubbed = secrets.Scrub(reader.Bytes(length), out _);
                return scrubbed is null ? null : new PgBuilder().Int32(scrubbed.Length).Bytes(scrubbed).Message(message.Type);
            }

            default:
            {
                // CopyData: the data itself, whatever its format; each message is scrubbed on its own (the
                // database sends one row per message in text and CSV COPY).
                place = "copy data";
                var scrubbed = secrets.Scrub(body, out _)!;
                return new PgBuilder().Bytes(scrubbed).Message(message.Type);
            }
        }
    }

    private static bool Carries(byte type) => type is (byte)'D' or (byte)'E' or (byte)'N' or (byte)'A' or (byte)'S' or (byte)'V' or (byte)'d';
}
