using System.Globalization;
using System.Text;
using System.Text.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>Verifying chains and exporting sessions for auditors; every export is itself audited.</summary>
public sealed class IntegrityService(IDbContextFactory<HoopDbContext> contexts, RecordSeal seal, AuditChain auditChain, AuditLog audit, ActivityQueries activity)
{
    /// <summary>The sessions a filter finds (at most <see cref="ActivityQueries.MaxRows"/>), one after another in one export; audited once.</summary>
    public async Task<string> ExportManyAsync(SessionFilter filter, string format, string actor, CancellationToken cancellationToken)
    {
        var sessions = await activity.SessionsAsync(filter, ActivityQueries.MaxRows, cancellationToken);
        var text = new StringBuilder();
        foreach (var session in sessions)
        {
            text.Append(await ExportAsync(session.Id, format, actor: null, cancellationToken, withHeader: text.Length == 0));
        }

        await audit.WriteAsync(actor, "session.export", null, AuditOutcome.Success, new { format, filter, sessions = sessions.Select(s => s.Id) }, cancellationToken);
        return text.Length == 0 && format == "csv" ? CsvHeader : text.ToString();
    }

    private const string CsvHeader = "session,sequence,at,kind,summary,durationMicroseconds,hash,content\r\n";

    public async Task<ChainReport?> VerifySessionAsync(Guid id, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var session = await db.Sessions.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, cancellationToken);
        if (session is null)
        {
            return null;
        }

        var events = await db.SessionEvents.AsNoTracking().Where(e => e.SessionId == id).OrderBy(e => e.Id).ToListAsync(cancellationToken);
        var report = ChainVerifier.Session(SessionSeal.Of(session), events, h => seal.Mac(h), await seal.PublicKeyPemAsync(cancellationToken));
        var target = id.ToString();
        var sealedDetails = await db.AuditEvents.AsNoTracking().Where(a => a.Action == "session.sealed" && a.Target == target).OrderByDescending(a => a.Id)
            .Select(a => a.Details).FirstOrDefaultAsync(cancellationToken);
        if (report.Intact && sealedDetails is not null)
        {
            // The audit chain remembers the seal: a session row whose seal was replaced or removed does not match it.
            using var recorded = JsonDocument.Parse(sealedDetails);
            if (recorded.RootElement.GetProperty("finalHash").GetString() != session.FinalHash || recorded.RootElement.GetProperty("events").GetInt32() != report.Events)
            {
                report = ChainReport.Broken(report.Events, "the session's seal differs from the one recorded in the audit log: events were removed or the seal replaced");
            }
        }

        await audit.WriteAsync(actor, "session.verify", id.ToString(), report.Intact ? AuditOutcome.Success : AuditOutcome.Failed,
            new { report.Intact, report.Events, report.Problem }, cancellationToken);
        return report;
    }

    public async Task<ChainReport> VerifyAuditAsync(string actor, CancellationToken cancellationToken)
    {
        await ChainWhatCanBeAsync(cancellationToken);
        var report = await auditChain.VerifyAsync(cancellationToken);
        await audit.WriteAsync(actor, "audit.verify", null, report.Intact ? AuditOutcome.Success : AuditOutcome.Failed,
            new { report.Intact, report.Events, report.Problem }, cancellationToken);
        return report;
    }

    public Task<string> PublicKeyPemAsync(CancellationToken cancellationToken) => seal.PublicKeyPemAsync(cancellationToken);

    /// <summary>Chains what is not chained yet, unless the chain was tampered with (then verification says how).</summary>
    private async Task ChainWhatCanBeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await auditChain.ChainAsync(cancellationToken);
        }
        catch (InvalidDataException)
        {
            // The chainer refuses to sign what it did not hash itself; VerifyAsync reports the same problem.
        }
    }

    /// <summary>Puts a session under legal hold (retention never purges it) or releases it; false when there is no such session.</summary>
    public async Task<bool> SetLegalHoldAsync(Guid id, bool hold, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var session = await db.Sessions.FirstOrDefaultAsync(s => s.Id == id, cancellationToken);
        if (session is null)
        {
            return false;
        }

        session.LegalHold = hold;
        db.AuditEvents.Add(audit.Create(actor, hold ? "session.legal-hold" : "session.legal-hold-released", id.ToString(), AuditOutcome.Success));
        await db.SaveChangesAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// One session as JSON Lines (a header with its seal, then one event per line with its hash, for
    /// <c>hoop verify-export</c>) or CSV; null when there is no such session.
    /// </summary>
    public async Task<string?> ExportAsync(Guid id, string format, string? actor, CancellationToken cancellationToken, bool withHeader = true)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var session = await db.Sessions.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, cancellationToken);
        if (session is null)
        {
            return null;
        }

        var events = await db.SessionEvents.AsNoTracking().Where(e => e.SessionId == id).OrderBy(e => e.Id).ToListAsync(cancellationToken);
        if (actor is not null)
        {
            await audit.WriteAsync(actor, "session.export", id.ToString(), AuditOutcome.Success, new { format, events = events.Count }, cancellationToken);
        }

        var text = new StringBuilder();
        if (format == "csv")
        {
            if (withHeader)
            {
                text.Append(CsvHeader);
            }

            foreach (var e in events)
            {
                text.AppendJoin(',', id.ToString(), e.Sequence.ToString(CultureInfo.InvariantCulture), e.At.ToString("O", CultureInfo.InvariantCulture), Csv(e.Kind),
                    Csv(e.Summary), e.DurationMicroseconds.ToString(CultureInfo.InvariantCulture), e.Hash ?? "", Csv(e.Content)).Append("\r\n");
            }

            return text.ToString();
        }

        text.Append(JsonSerializer.Serialize(new ExportHeader("session", session.Id, session.ConnectionName, session.Protocol.ToString(), session.Subject,
            session.StartedAt, session.EndedAt, session.Status.ToString(), events.Count, session.FinalHash, session.Signature), JsonOptions)).Append('\n');
        foreach (var e in events)
        {
            text.Append(JsonSerializer.Serialize(new ExportEvent("event", e.Sequence, e.At, e.At.Ticks, e.Kind, e.Summary, e.Content,
                e.DurationMicroseconds, e.Hash, e.Mac), JsonOptions)).Append('\n');
        }

        return text.ToString();
    }

    /// <summary>
    /// The chained audit log (from <paramref name="from"/>, up to 100,000 events) as JSON Lines: a header with the
    /// hash before the first event and Hoop's signature over the range, then one event per line; or CSV.
    /// </summary>
    public async Task<string> ExportAuditAsync(string format, DateTime? from, string actor, CancellationToken cancellationToken)
    {
        await ChainWhatCanBeAsync(cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.AuditEvents.AsNoTracking().Where(a => a.Hash != null);
        if (from is { } start)
        {
            // The chain follows ids, which times do not strictly follow: from the first event at or after the time, every id on.
            var firstId = await db.AuditEvents.AsNoTracking().Where(a => a.At >= start.ToUniversalTime()).OrderBy(a => a.Id).Select(a => (long?)a.Id)
                .FirstOrDefaultAsync(cancellationToken) ?? long.MaxValue;
            query = query.Where(a => a.Id >= firstId);
        }

        var events = await query.OrderBy(a => a.Id).Take(100_000).ToListAsync(cancellationToken);
        var text = new StringBuilder();
        if (format == "csv")
        {
            text.Append("id,at,actor,action,target,outcome,details,hash\r\n");
            foreach (var a in events)
            {
                text.AppendJoin(',', a.Id.ToString(CultureInfo.InvariantCulture), a.At.ToString("O", CultureInfo.InvariantCulture), Csv(a.Actor), Csv(a.Action),
                    Csv(a.Target ?? ""), a.Outcome.ToString(), Csv(a.Details ?? ""), a.Hash).Append("\r\n");
            }
        }
        else
        {
            var first = events.FirstOrDefault();
            var previous = first is null ? null : await db.AuditEvents.AsNoTracking().Where(a => a.Id < first.Id && a.Hash != null).OrderByDescending(a => a.Id)
                .Select(a => a.Hash).FirstOrDefaultAsync(cancellationToken);
            var previousHash = previous ?? RecordChain.Hex(RecordChain.AuditGenesis);
            var last = events.LastOrDefault();
            var signature = await seal.SignAsync(RecordChain.AuditManifest(previousHash, first?.Id ?? 0, last?.Id ?? 0, events.Count, last?.Hash ?? previousHash),
                cancellationToken);
            text.Append(JsonSerializer.Serialize(new AuditHeader("audit", previousHash, events.Count, signature), JsonOptions)).Append('\n');
            foreach (var a in events)
            {
                text.Append(JsonSerializer.Serialize(new AuditLine("event", a.Id, a.At, a.At.Ticks, a.Actor, a.Action, a.Target, a.Outcome, a.Details, a.Hash, a.Mac),
                    JsonOptions)).Append('\n');
            }
        }

        await audit.WriteAsync(actor, "audit.export", null, AuditOutcome.Success, new { format, events = events.Count, from }, cancellationToken);
        return text.ToString();
    }

    /// <summary>
    /// Checks an export offline: the chain of its events and, for a sealed session, the seal against the given
    /// public key. Used by <c>hoop verify-export</c>.
    /// </summary>
    public static ChainReport VerifyExport(IEnumerable<string> lines, string publicKeyPem)
    {
        var all = lines.Where(l => l.Length > 0).ToList();
        if (all.Count == 0)
        {
            throw new InvalidDataException("the export is empty");
        }
        if (all.Count > 0 && all[0].Contains("\"type\":\"audit\"", StringComparison.Ordinal))
        {
            return VerifyAuditExport(all, publicKeyPem);
        }

        // An export of several sessions holds each after its own session line: each is checked on its own.
        var total = 0;
        var unsealed = false;
        var start = 0;
        while (start < all.Count)
        {
            var end = start + 1;
            while (end < all.Count && !all[end].Contains("\"type\":\"session\"", StringComparison.Ordinal))
            {
                end++;
            }

            var report = VerifySessionExport(all[start..end], publicKeyPem);
            if (!report.Intact)
            {
                return report with { Events = total + report.Events };
            }

            total += report.Events;
            unsealed |= report.Problem is not null;
            start = end;
        }

        return new ChainReport(true, total, unsealed ? "a session is not sealed (still open, or cut off by a crash): its chain was checked, not its end" : null);
    }

    private static ChainReport VerifySessionExport(List<string> lines, string publicKeyPem)
    {
        ExportHeader? header = null;
        var events = new List<SessionEvent>();
        foreach (var line in lines)
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.GetProperty("type").GetString() == "session")
            {
                header = document.RootElement.Deserialize<ExportHeader>(JsonOptions);
                continue;
            }

            var e = document.RootElement.Deserialize<ExportEvent>(JsonOptions)!;
            events.Add(new SessionEvent
            {
                SessionId = header?.Id ?? throw new InvalidDataException("the export does not start with its session line"),
                Sequence = e.Sequence,
                At = new DateTime(e.AtTicks, DateTimeKind.Utc),
                Kind = e.Kind,
                Summary = e.Summary,
                Content = e.Content,
                DurationMicroseconds = e.DurationMicroseconds,
                Hash = e.Hash,
                Mac = e.Mac,
            });
        }

        if (header is null)
        {
            throw new InvalidDataException("the export has no session line");
        }

        var report = ChainVerifier.Session(new SessionSeal(header.Id, header.Subject, header.Connection, header.StartedAt, header.Status != "Open",
            header.FinalHash, header.Signature), events, mac: null, publicKeyPem);
        return report.Intact && header.Signature is null
            ? report with { Problem = "the session is not sealed (still open, or cut off by a crash): its chain was checked, not its end" }
            : report;
    }

    private static ChainReport VerifyAuditExport(List<string> lines, string publicKeyPem)
    {
        var header = JsonSerializer.Deserialize<AuditHeader>(lines[0], JsonOptions) ?? throw new InvalidDataException("the audit export has no header");
        var events = lines.Skip(1).Select(l => JsonSerializer.Deserialize<AuditLine>(l, JsonOptions)!).Select(e => new AuditEvent
        {
            Id = e.Id,
            At = new DateTime(e.AtTicks, DateTimeKind.Utc),
            Actor = e.Actor,
            Action = e.Action,
            Target = e.Target,
            Outcome = e.Outcome,
            Details = e.Details,
            Hash = e.Hash,
            Mac = e.Mac,
        }).ToList();
        var report = ChainVerifier.Audit(events, mac: null, head: null, Convert.FromHexString(header.PreviousHash));
        if (!report.Intact)
        {
            return report;
        }

        var manifest = RecordChain.AuditManifest(header.PreviousHash, events.FirstOrDefault()?.Id ?? 0, events.LastOrDefault()?.Id ?? 0, events.Count,
            events.LastOrDefault()?.Hash ?? header.PreviousHash);
        return events.Count != header.Count || !RecordSeal.Verify(publicKeyPem, manifest, header.Signature)
            ? ChainReport.Broken(events.Count, "the export's signature does not verify with Hoop's public key: events were added, removed or changed at its ends")
            : report;
    }

    private sealed record AuditHeader(string Type, string PreviousHash, int Count, string Signature);

    private sealed record AuditLine(string Type, long Id, DateTime At, long AtTicks, string Actor, string Action, string? Target, AuditOutcome Outcome,
        string? Details, string? Hash, string? Mac);

    private static string Csv(string value) => $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    private sealed record ExportHeader(string Type, Guid Id, string Connection, string Protocol, string Subject, DateTime StartedAt, DateTime? EndedAt,
        string Status, int EventCount, string? FinalHash, string? Signature);

    private sealed record ExportEvent(string Type, int Sequence, DateTime At, long AtTicks, string Kind, string Summary, string Content,
        long DurationMicroseconds, string? Hash, string? Mac);

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
