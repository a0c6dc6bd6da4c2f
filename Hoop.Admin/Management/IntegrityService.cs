using System.Globalization;
using System.Text.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Records;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>Verifying chains and exporting sessions for auditors; every export is itself audited.</summary>
public sealed class IntegrityService(IDbContextFactory<HoopDbContext> contexts, RecordSeal seal, AuditChain auditChain, AuditLog audit, ActivityQueries activity)
{
    /// <summary>
    /// The sessions a filter finds (at most <see cref="ActivityQueries.MaxRows"/>), for <see cref="ExportManyAsync"/>;
    /// found before the export starts, so a bad filter is an error and not a broken download.
    /// </summary>
    public Task<List<Session>> ToExportAsync(SessionFilter filter, CancellationToken cancellationToken) =>
        activity.StoredSessionsAsync(filter, ActivityQueries.MaxRows, cancellationToken);

    /// <summary>Writes the sessions a filter found (<see cref="ToExportAsync"/>) one after another; audited once.</summary>
    public async Task ExportManyAsync(IReadOnlyList<Session> sessions, SessionFilter filter, string format, string actor, TextWriter writer,
        CancellationToken cancellationToken)
    {
        await audit.WriteAsync(actor, "session.export", null, AuditOutcome.Success, new { format, filter, sessions = sessions.Select(s => s.Id) }, cancellationToken);
        await WriteSessionsAsync(sessions, format, writer, cancellationToken);
    }

    /// <summary>
    /// Sessions as CSV, or as JSON Lines: each session's line (with its seal) and its events (with their hashes),
    /// then a <c>set</c> line that lists every session written (who, where, when, status, events, last hash)
    /// under Hoop's signature, so a session taken out of the file, added to it or cut short is found offline.
    /// </summary>
    private async Task WriteSessionsAsync(IReadOnlyList<Session> sessions, string format, TextWriter writer, CancellationToken cancellationToken)
    {
        if (format == "csv")
        {
            await writer.WriteAsync(CsvHeader);
        }

        var listed = new List<ExportedSession>(sessions.Count);
        foreach (var session in sessions)
        {
            listed.Add(await WriteSessionAsync(session, format, writer, cancellationToken));
        }

        if (format != "csv")
        {
            await WriteLineAsync(writer, new ExportSet("set", listed, await seal.SignAsync(SetManifest(listed), cancellationToken)));
        }
    }

    private static byte[] SetManifest(List<ExportedSession> listed) => RecordChain.SetManifest(JsonSerializer.Serialize(listed, JsonOptions));

    private const string CsvHeader = "session,sequence,at,kind,summary,durationMicroseconds,hash,content\r\n";

    public async Task<ChainReport?> VerifySessionAsync(Guid id, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var session = await db.Sessions.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, cancellationToken);
        if (session is null)
        {
            return null;
        }

        var events = await RecordedEvents.ListAsync(db, id, cancellationToken);
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
    /// <c>hoop verify-export</c>) or CSV, written as it is read; audited.
    /// </summary>
    public async Task ExportAsync(Session session, string format, string actor, TextWriter writer, CancellationToken cancellationToken)
    {
        await audit.WriteAsync(actor, "session.export", session.Id.ToString(), AuditOutcome.Success, new { format, events = session.EventCount }, cancellationToken);
        await WriteSessionsAsync([session], format, writer, cancellationToken);
    }

    private async Task<ExportedSession> WriteSessionAsync(Session session, string format, TextWriter writer, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var id = session.Id;
        if (format != "csv")
        {
            await WriteLineAsync(writer, new ExportHeader("session", session.Id, session.ConnectionName, session.Protocol.ToString(), session.Subject,
                session.StartedAt, session.EndedAt, session.Status.ToString(), session.EventCount, session.FinalHash, session.Signature));
        }

        var count = 0;
        var last = RecordChain.Hex(RecordChain.Genesis(id));
        await foreach (var e in RecordedEvents.AllAsync(db, id, cancellationToken))
        {
            if (format == "csv")
            {
                await writer.WriteAsync(string.Join(',', id.ToString(), e.Sequence.ToString(CultureInfo.InvariantCulture), e.At.ToString("O", CultureInfo.InvariantCulture),
                    Csv(e.Kind), Csv(e.Summary), e.DurationMicroseconds.ToString(CultureInfo.InvariantCulture), e.Hash ?? "", Csv(e.Content)) + "\r\n");
            }
            else
            {
                await WriteLineAsync(writer, new ExportEvent("event", e.Sequence, e.At, e.At.Ticks, e.Kind, e.Summary, e.Content, e.DurationMicroseconds, e.Hash, e.Mac)
                {
                    Chain = e.Chain == 1 ? null : e.Chain,
                });
            }

            count++;
            last = e.Hash ?? last;
        }

        return new ExportedSession(id, session.Subject, session.ConnectionName, session.StartedAt, session.Status.ToString(), count, last);
    }

    private static Task WriteLineAsync<T>(TextWriter writer, T line) => writer.WriteAsync(JsonSerializer.Serialize(line, JsonOptions) + "\n");

    /// <summary>
    /// The chained audit log (from <paramref name="from"/>, up to 100,000 events) as JSON Lines: a header with the
    /// hash before the first event and Hoop's signature over the range, then one event per line; or CSV. The range
    /// is fixed first (chained events never change), then its events are written as they are read.
    /// </summary>
    public async Task ExportAuditAsync(string format, DateTime? from, string actor, TextWriter writer, CancellationToken cancellationToken)
    {
        await ChainWhatCanBeAsync(cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var chained = db.AuditEvents.AsNoTracking().Where(a => a.Hash != null);
        var firstId = 0L;
        if (from is { } start)
        {
            // The chain follows ids, which times do not strictly follow: from the first event at or after the time, every id on.
            firstId = await db.AuditEvents.AsNoTracking().Where(a => a.At >= start.ToUniversalTime()).OrderBy(a => a.Id).Select(a => (long?)a.Id)
                .FirstOrDefaultAsync(cancellationToken) ?? long.MaxValue;
        }

        var range = chained.Where(a => a.Id >= firstId);
        var lastId = await range.OrderBy(a => a.Id).Skip(MaxAuditExport - 1).Select(a => (long?)a.Id).FirstOrDefaultAsync(cancellationToken)
            ?? await range.MaxAsync(a => (long?)a.Id, cancellationToken) ?? 0;
        range = range.Where(a => a.Id <= lastId);
        var count = await range.CountAsync(cancellationToken);
        await audit.WriteAsync(actor, "audit.export", null, AuditOutcome.Success, new { format, events = count, from }, cancellationToken);

        if (format == "csv")
        {
            await writer.WriteAsync(AuditCsvHeader);
        }
        else
        {
            var first = await range.OrderBy(a => a.Id).Select(a => new { a.Id }).FirstOrDefaultAsync(cancellationToken);
            var previous = first is null ? null : await chained.Where(a => a.Id < first.Id).OrderByDescending(a => a.Id).Select(a => a.Hash)
                .FirstOrDefaultAsync(cancellationToken);
            var previousHash = previous ?? RecordChain.Hex(RecordChain.AuditGenesis);
            var lastHash = await range.OrderByDescending(a => a.Id).Select(a => a.Hash).FirstOrDefaultAsync(cancellationToken) ?? previousHash;
            var signature = await seal.SignAsync(RecordChain.AuditManifest(previousHash, first?.Id ?? 0, count == 0 ? 0 : lastId, count, lastHash), cancellationToken);
            await WriteLineAsync(writer, new AuditHeader("audit", previousHash, count, signature));
        }

        await foreach (var a in range.OrderBy(a => a.Id).AsAsyncEnumerable().WithCancellation(cancellationToken))
        {
            if (format == "csv")
            {
                await writer.WriteAsync(CsvLine(a));
            }
            else
            {
                await WriteLineAsync(writer, new AuditLine("event", a.Id, a.At, a.At.Ticks, a.Actor, a.Action, a.Target, a.Outcome, a.Details, a.Hash, a.Mac));
            }
        }
    }

    private const int MaxAuditExport = 100_000;

    /// <summary>
    /// The audit events a filter selects, oldest first, as CSV (the columns of the CSV export): what someone looking
    /// into one matter takes away. Not a chain to verify (a filtered range has gaps); the full export is for that.
    /// </summary>
    public async Task<int> ExportAuditCsvAsync(AuditFilter filter, string actor, TextWriter writer, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var range = filter.Apply(db.AuditEvents.AsNoTracking()).OrderByDescending(a => a.Id).Take(MaxAuditExport);
        var count = await range.CountAsync(cancellationToken);
        await audit.WriteAsync(actor, "audit.export", null, AuditOutcome.Success, new { format = "csv", events = count, filter }, cancellationToken);
        await writer.WriteAsync(AuditCsvHeader);
        await foreach (var a in range.OrderBy(a => a.Id).AsAsyncEnumerable().WithCancellation(cancellationToken))
        {
            await writer.WriteAsync(CsvLine(a, SpreadsheetSafe));
        }

        return count;
    }

    /// <summary>
    /// Checks an export offline: the chain of its events and, for a sealed session, the seal against the given
    /// public key; for several sessions, Hoop's signed list of them. Every line must be exactly as Hoop writes it.
    /// Used by <c>hoop verify-export</c>.
    /// </summary>
    public static ChainReport VerifyExport(IEnumerable<string> lines, string publicKeyPem)
    {
        var all = lines.Where(l => l.Length > 0).ToList();
        if (all.Count == 0)
        {
            throw new InvalidDataException("the export is empty");
        }

        try
        {
            return TypeOf(all[0]) == "audit" ? VerifyAuditExport(all, publicKeyPem) : VerifySessionsExport(all, publicKeyPem);
        }
        catch (AlteredLineException e)
        {
            return ChainReport.Broken(0, e.Message);
        }
    }

    private static ChainReport VerifySessionsExport(List<string> all, string publicKeyPem)
    {
        ExportSet? set = null;
        if (TypeOf(all[^1]) == "set")
        {
            set = Strict<ExportSet>(all[^1], all.Count);
            all = all[..^1];
        }

        // Each session after its own session line is checked on its own.
        var found = new List<ExportedSession>();
        var total = 0;
        var unsealed = false;
        var start = 0;
        while (start < all.Count)
        {
            var end = start + 1;
            while (end < all.Count && TypeOf(all[end]) != "session")
            {
                end++;
            }

            var (report, session) = VerifySessionExport(all, start, end, publicKeyPem);
            if (!report.Intact)
            {
                return report with { Events = total + report.Events };
            }

            found.Add(session);
            total += report.Events;
            unsealed |= report.Problem is not null;
            start = end;
        }

        if (set is null)
        {
            return ChainReport.Broken(total, "the export does not end with Hoop's signed list of its sessions, so sessions may have been taken out or the file cut");
        }

        if (!set.Sessions.SequenceEqual(found) || !RecordSeal.Verify(publicKeyPem, SetManifest(set.Sessions), set.Signature))
        {
            return ChainReport.Broken(total, "the sessions in the export are not the ones Hoop signed as exported: a session was taken out, added or cut short");
        }

        return new ChainReport(true, total, unsealed ? "a session is not sealed (still open, or cut off by a crash): its chain was checked, not its end" : null);
    }

    private static (ChainReport Report, ExportedSession Session) VerifySessionExport(List<string> lines, int start, int end, string publicKeyPem)
    {
        if (TypeOf(lines[start]) != "session")
        {
            throw new InvalidDataException("the export does not start with its session line");
        }

        var header = Strict<ExportHeader>(lines[start], start + 1);
        var events = new List<SessionEvent>();
        for (var i = start + 1; i < end; i++)
        {
            var e = Strict<ExportEvent>(lines[i], i + 1);
            if (e.Type != "event" || e.At.Ticks != e.AtTicks)
            {
                throw new AlteredLineException(i + 1);
            }

            events.Add(new SessionEvent
            {
                SessionId = header.Id,
                Sequence = e.Sequence,
                At = new DateTime(e.AtTicks, DateTimeKind.Utc),
                Kind = e.Kind,
                Summary = e.Summary,
                Content = e.Content,
                DurationMicroseconds = e.DurationMicroseconds,
                Hash = e.Hash,
                Mac = e.Mac,
                Chain = e.Chain ?? 1,
            });
        }

        var report = ChainVerifier.Session(new SessionSeal(header.Id, header.Subject, header.Connection, header.StartedAt, header.Status != "Open",
            header.FinalHash, header.Signature), events, mac: null, publicKeyPem);
        var session = new ExportedSession(header.Id, header.Subject, header.Connection, header.StartedAt, header.Status, events.Count,
            events.LastOrDefault()?.Hash ?? RecordChain.Hex(RecordChain.Genesis(header.Id)));
        if (report.Intact && header.Signature is not null && header.EventCount != events.Count)
        {
            return (ChainReport.Broken(events.Count, $"the session line says {header.EventCount} events; the export holds {events.Count}"), session);
        }

        return (report.Intact && header.Signature is null
            ? report with { Problem = "the session is not sealed (still open, or cut off by a crash): its chain was checked, not its end" }
            : report, session);
    }

    private static ChainReport VerifyAuditExport(List<string> lines, string publicKeyPem)
    {
        var header = Strict<AuditHeader>(lines[0], 1);
        var events = lines.Skip(1).Select((l, i) => Strict<AuditLine>(l, i + 2) is var e && e.Type == "event" && e.At.Ticks == e.AtTicks ? e : throw new AlteredLineException(i + 2))
            .Select(e => new AuditEvent
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

    private static string? TypeOf(string line)
    {
        using var document = JsonDocument.Parse(line);
        return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("type", out var type)
            && type.ValueKind == JsonValueKind.String ? type.GetString() : null;
    }

    /// <summary>
    /// One line read strictly: it must be exactly what Hoop writes for what it holds, so that no field can be read
    /// two ways (a duplicate key, another letter case, an unknown field, different spacing).
    /// </summary>
    private static T Strict<T>(string line, int number)
    {
        var value = JsonSerializer.Deserialize<T>(line, JsonOptions) ?? throw new AlteredLineException(number);
        return JsonSerializer.Serialize(value, JsonOptions) == line ? value : throw new AlteredLineException(number);
    }

    private sealed class AlteredLineException(int line) : Exception($"line {line} is not as Hoop wrote it (a field changed outside the chain, repeated or renamed)");

    /// <summary>A session as the closing <c>set</c> line lists it.</summary>
    private sealed record ExportedSession(Guid Id, string Subject, string Connection, DateTime StartedAt, string Status, int Events, string LastHash);

    private sealed record ExportSet(string Type, List<ExportedSession> Sessions, string Signature);

    private sealed record AuditHeader(string Type, string PreviousHash, int Count, string Signature);

    private sealed record AuditLine(string Type, long Id, DateTime At, long AtTicks, string Actor, string Action, string? Target, AuditOutcome Outcome,
        string? Details, string? Hash, string? Mac);

    private const string AuditCsvHeader = "id,at,actor,action,target,outcome,details,hash\r\n";

    private static string CsvLine(AuditEvent a) => CsvLine(a, text => text);

    private static string CsvLine(AuditEvent a, Func<string, string> cell) =>
        string.Join(',', a.Id.ToString(CultureInfo.InvariantCulture), a.At.ToString("O", CultureInfo.InvariantCulture), Csv(cell(a.Actor)),
            Csv(cell(a.Action)), Csv(cell(a.Target ?? "")), a.Outcome.ToString(), Csv(cell(a.Details ?? "")), a.Hash) + "\r\n";

    /// <summary>
    /// Text a spreadsheet would run as a formula (=, +, -, @, tab, return first) gets a leading apostrophe: a
    /// failed sign-in's user name is typed by anyone, and this file is opened in spreadsheets. The chained export
    /// keeps the stored text byte for byte, as its verification needs.
    /// </summary>
    private static string SpreadsheetSafe(string text) => text.Length > 0 && text[0] is '=' or '+' or '-' or '@' or '\t' or '\r' ? "'" + text : text;

    private static string Csv(string value) => $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    private sealed record ExportHeader(string Type, Guid Id, string Connection, string Protocol, string Subject, DateTime StartedAt, DateTime? EndedAt,
        string Status, int EventCount, string? FinalHash, string? Signature);

    /// <summary>An event line; <see cref="Chain"/> is left out for chain link v1 (event rows), so exports written before it still read exactly.</summary>
    private sealed record ExportEvent(string Type, int Sequence, DateTime At, long AtTicks, string Kind, string Summary, string Content,
        long DurationMicroseconds, string? Hash, string? Mac)
    {
        [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
        public int? Chain { get; init; }
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
