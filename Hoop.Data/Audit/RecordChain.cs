using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hoop.Data.Entities;

namespace Hoop.Data.Audit;

/// <summary>
/// Tamper evidence for recordings and the audit log. Each event's hash is SHA-256 over the previous event's hash
/// and the event's own content, so an edited, deleted or reordered event breaks every link after it; a keyed MAC
/// of each hash (the key is derived from the master key, which the store does not hold) means the chain cannot
/// simply be recomputed by whoever can write the database; and a closed session is sealed by an ECDSA signature
/// over its manifest (id, event count, final hash), which an exported session can be checked against offline.
/// </summary>
public static class RecordChain
{
    /// <summary>Where a session's chain starts.</summary>
    public static byte[] Genesis(Guid sessionId) => SHA256.HashData(Encoding.UTF8.GetBytes($"hoop session chain v1\n{sessionId:D}"));

    /// <summary>Where the audit log's chain starts.</summary>
    public static byte[] AuditGenesis { get; } = SHA256.HashData("hoop audit chain v1"u8);

    /// <summary>
    /// An event's link: over its canonical JSON for an event row (v1), over its frame for an event of a chunk (v2,
    /// see <see cref="Records.EventChunk"/>).
    /// </summary>
    public static byte[] Link(ReadOnlySpan<byte> previous, SessionEvent e) =>
        e.Chain == 2 ? Records.EventChunk.Link(previous, e) : Link(previous, Canonical(e));

    public static byte[] Link(ReadOnlySpan<byte> previous, AuditEvent a) => Link(previous, Canonical(a));

    private static byte[] Link(ReadOnlySpan<byte> previous, byte[] content)
    {
        var data = new byte[previous.Length + content.Length];
        previous.CopyTo(data);
        content.CopyTo(data.AsSpan(previous.Length));
        return SHA256.HashData(data);
    }

    /// <summary>An event's content as hashed: a JSON array, so no field can run into the next; times as ticks.</summary>
    public static byte[] Canonical(SessionEvent e) => JsonSerializer.SerializeToUtf8Bytes<object?[]>(
        [e.SessionId.ToString("D"), e.Sequence, e.At.Ticks, e.Kind, e.Summary, e.Content, e.DurationMicroseconds]);

    public static byte[] Canonical(AuditEvent a) => JsonSerializer.SerializeToUtf8Bytes<object?[]>(
        [a.Id, a.At.Ticks, a.Actor, a.Action, a.Target, (int)a.Outcome, a.Details]);

    /// <summary>What a session's signature covers: who, where and since when, how many events, and the last hash.</summary>
    public static byte[] Manifest(Guid sessionId, string subject, string connection, DateTime startedAt, int eventCount, string finalHash) =>
        JsonSerializer.SerializeToUtf8Bytes<object[]>(["hoop session manifest v2", sessionId.ToString("D"), subject, connection, startedAt.Ticks, eventCount, finalHash]);

    /// <summary>What an audit export's signature covers: the hash before its first event, its ids, its last hash.</summary>
    public static byte[] AuditManifest(string previousHash, long firstId, long lastId, int count, string lastHash) =>
        Encoding.UTF8.GetBytes($"hoop audit export v1\n{previousHash}\n{firstId}\n{lastId}\n{count}\n{lastHash}");

    /// <summary>What the closing signature of a session export covers: its list of sessions (id, agent, connection, start, status, events, last hash) as written.</summary>
    public static byte[] SetManifest(string sessionsJson) => Encoding.UTF8.GetBytes($"hoop export set v1\n{sessionsJson}");

    public static string Hex(ReadOnlySpan<byte> hash) => Convert.ToHexStringLower(hash);
}
