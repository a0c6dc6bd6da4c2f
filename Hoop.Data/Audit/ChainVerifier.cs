using Hoop.Data.Entities;

namespace Hoop.Data.Audit;

/// <summary>A session as its seal covers it. <paramref name="Closed"/>: ended or interrupted, so it must be sealed.</summary>
public sealed record SessionSeal(Guid Id, string Subject, string Connection, DateTime StartedAt, bool Closed, string? FinalHash, string? Signature)
{
    public static SessionSeal Of(Session s) => new(s.Id, s.Subject, s.ConnectionName, s.StartedAt, s.Status != SessionStatus.Open, s.FinalHash, s.Signature);
}

/// <summary>What a verification found: intact, or the first event that breaks the chain and why.</summary>
public sealed record ChainReport(bool Intact, int Events, string? Problem = null, long? EventId = null, int? Sequence = null)
{
    public static ChainReport Broken(int events, string problem, long? id = null, int? sequence = null) => new(false, events, problem, id, sequence);
}

/// <summary>
/// Recomputes chains (<see cref="RecordChain"/>) and says exactly where one breaks. Used by the API and console on
/// the store (with the MAC key) and by <c>hoop verify-export</c> on an export (with the public key alone).
/// </summary>
public static class ChainVerifier
{
    /// <summary>
    /// A session's events in the order they were written (by id). <paramref name="mac"/> checks each hash's MAC
    /// (null offline); <paramref name="publicKeyPem"/> checks the seal of a closed session.
    /// </summary>
    public static ChainReport Session(SessionSeal session, IEnumerable<SessionEvent> events, Func<byte[], string>? mac, string? publicKeyPem)
    {
        var (sessionId, subject, connection, startedAt, closed, finalHash, signature) = session;
        var previous = RecordChain.Genesis(sessionId);
        var count = 0;
        foreach (var e in events)
        {
            if (e.Hash is null)
            {
                return ChainReport.Broken(count, $"event {e.Sequence} carries no hash: it was written outside Hoop's recorder, or before chains existed", e.Id, e.Sequence);
            }

            var hash = RecordChain.Link(previous, e);
            if (RecordChain.Hex(hash) != e.Hash)
            {
                return ChainReport.Broken(count,
                    count == 0 && finalHash is null && signature is null
                        ? $"event {e.Sequence} does not follow from the start of the session: it was changed, or events before it were removed"
                        : $"event {e.Sequence} does not match its hash: it was changed, or an event before it was removed or moved", e.Id, e.Sequence);
            }

            // An event row carries its own MAC; in a chunk, the last event carries the chunk's, over the links before it.
            if (mac is not null && (e.Chain == 1 || e.Mac is not null) && mac(hash) != e.Mac)
            {
                return ChainReport.Broken(count, $"event {e.Sequence} has a hash that Hoop's key did not sign: the chain was recomputed outside Hoop", e.Id, e.Sequence);
            }

            previous = hash;
            count++;
        }

        if (closed && signature is null)
        {
            return ChainReport.Broken(count, "the session is closed but carries no seal: its seal was removed");
        }

        if (signature is not null)
        {
            if (finalHash != RecordChain.Hex(previous))
            {
                return ChainReport.Broken(count, $"the session was sealed with a different last event: events after event {count} were removed, or added after sealing");
            }

            if (publicKeyPem is not null && !RecordSeal.Verify(publicKeyPem, RecordChain.Manifest(sessionId, subject, connection, startedAt, count, finalHash), signature))
            {
                return ChainReport.Broken(count, "the session's seal does not verify with Hoop's public key: its agent, connection, start, event count or final hash was changed");
            }
        }

        return new ChainReport(true, count);
    }

    /// <summary>The audit log's chained events by id, and the head the chainer last recorded (id and hash), if any.</summary>
    public static ChainReport Audit(IEnumerable<AuditEvent> events, Func<byte[], string>? mac, (long Id, string Hash)? head, byte[]? start = null)
    {
        var previous = start ?? RecordChain.AuditGenesis;
        var count = 0;
        long lastId = 0;
        foreach (var a in events)
        {
            var hash = RecordChain.Link(previous, a);
            if (RecordChain.Hex(hash) != a.Hash)
            {
                return ChainReport.Broken(count, $"audit event {a.Id} does not match its hash: it was changed, or an event before it was removed or moved", a.Id);
            }

            if (mac is not null && mac(hash) != a.Mac)
            {
                return ChainReport.Broken(count, $"audit event {a.Id} has a hash that Hoop's key did not sign: the chain was recomputed outside Hoop", a.Id);
            }

            previous = hash;
            lastId = a.Id;
            count++;
        }

        if (head is { } h && (h.Id != lastId || h.Hash != RecordChain.Hex(previous)))
        {
            return ChainReport.Broken(count, $"the chain ends at audit event {lastId}, but Hoop chained up to event {h.Id}: the newest events were removed");
        }

        return new ChainReport(true, count);
    }
}
