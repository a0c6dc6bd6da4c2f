using System.Globalization;
using System.Text;
using System.Text.Json;
using Hoop.Data.Audit;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>Verifying chains and exporting sessions for auditors; every export is itself audited.</summary>
public sealed class IntegrityService(IDbContextFactory<HoopDbContext> contexts, RecordSeal seal, AuditChain auditChain, AuditLog audit)
{
    public async Task<ChainReport?> VerifySessionAsync(Guid id, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var session = await db.Sessions.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, cancellationToken);
        if (session is null)
        {
            return null;
        }

        var events = await db.SessionEvents.AsNoTracking().Where(e => e.SessionId == id).OrderBy(e => e.Id).ToListAsync(cancellationToken);
        var report = ChainVerifier.Session(id, events, session.FinalHash, session.Signature, h => seal.Mac(h), await seal.PublicKeyPemAsync(cancellationToken));
        await audit.WriteAsync(actor, "session.verify", id.ToString(), report.Intact ? AuditOutcome.Success : AuditOutcome.Failed,
            new { report.Intact, report.Events, report.Problem }, cancellationToken);
        return report;
    }

    public async Task<ChainReport> VerifyAuditAsync(string actor, CancellationToken cancellationToken)
    {
        await auditChain.ChainAsync(cancellationToken);
        var report = await auditChain.VerifyAsync(cancellationToken);
        await audit.WriteAsync(actor, "audit.verify", null, report.Intact ? AuditOutcome.Success : AuditOutcome.Failed,
            new { report.Intact, report.Events, report.Problem }, cancellationToken);
        return report;
    }

    public Task<string> PublicKeyPemAsync(CancellationToken cancellationToken) => seal.PublicKeyPemAsync(cancellationToken);

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
    public async Task<string?> ExportAsync(Guid id, string format, string actor, CancellationToken cancellationToken)
    {
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var session = await db.Sessions.AsNoTracking().FirstOrDefaultAsync(s => s.Id == id, cancellationToken);
        if (session is null)
        {
            return null;
        }

        var events = await db.SessionEvents.AsNoTracking().Where(e => e.SessionId == id).OrderBy(e => e.Id).ToListAsync(cancellationToken);
        await audit.WriteAsync(actor, "session.export", id.ToString(), AuditOutcome.Success, new { format, events = events.Count }, cancellationToken);
        var text = new StringBuilder();
        if (format == "csv")
        {
            text.Append("sequence,at,kind,summary,durationMicroseconds,hash,content\r\n");
            foreach (var e in events)
            {
                text.AppendJoin(',', e.Sequence.ToString(CultureInfo.InvariantCulture), e.At.ToString("O", CultureInfo.InvariantCulture), Csv(e.Kind),
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
    /// Checks an export offline: the chain of its events and, for a sealed session, the seal against the given
    /// public key. Used by <c>hoop verify-export</c>.
    /// </summary>
    public static ChainReport VerifyExport(IEnumerable<string> lines, string publicKeyPem)
    {
        ExportHeader? header = null;
        var events = new List<SessionEvent>();
        foreach (var line in lines.Where(l => l.Length > 0))
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

        var report = ChainVerifier.Session(header.Id, events, header.FinalHash, header.Signature, mac: null, publicKeyPem);
        return report.Intact && header.Signature is null
            ? report with { Problem = "the session is not sealed (still open, or cut off by a crash): its chain was checked, not its end" }
            : report;
    }

    private static string Csv(string value) => $"\"{value.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";

    private sealed record ExportHeader(string Type, Guid Id, string Connection, string Protocol, string Subject, DateTime StartedAt, DateTime? EndedAt,
        string Status, int EventCount, string? FinalHash, string? Signature);

    private sealed record ExportEvent(string Type, int Sequence, DateTime At, long AtTicks, string Kind, string Summary, string Content,
        long DurationMicroseconds, string? Hash, string? Mac);

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
