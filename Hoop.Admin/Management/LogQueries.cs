using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Admin.Management;

/// <summary>Hoop's own log as its SQLite sink stored it, for the Logs page and GET /api/v1/logs (admins only).</summary>
public sealed class LogQueries(IDbContextFactory<HoopDbContext> contexts, TimeProvider time)
{
    public const int MaxRows = 500;

    /// <summary>Serilog's levels from the lowest a search may start at; "Warning" finds Warning, Error and Fatal.</summary>
    public static readonly IReadOnlyList<string> Levels = ["Information", "Warning", "Error"];

    /// <summary>Newest first: events of <paramref name="level"/> and above from the last <paramref name="hours"/>, whose message or category holds <paramref name="text"/>.</summary>
    public async Task<List<LogEventView>> SearchAsync(string level, int hours, string? text, int limit, CancellationToken cancellationToken)
    {
        if (!Levels.Contains(level))
        {
            throw new ArgumentException($"'{level}' is not a level to search from; use {string.Join(", ", Levels)}.");
        }

        var levels = Levels.SkipWhile(l => l != level).Append("Fatal").ToList();
        var since = time.GetUtcNow().UtcDateTime.AddHours(-Math.Clamp(hours, 1, 24 * 90));
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var query = db.LogEvents.AsNoTracking().Where(e => e.Timestamp >= since && levels.Contains(e.Level));
        if (!string.IsNullOrWhiteSpace(text))
        {
            var t = text.Trim();
            query = query.Where(e => e.Message.Contains(t) || (e.Category != null && e.Category.Contains(t)));
        }

        return await query.OrderByDescending(e => e.Id).Take(Math.Clamp(limit, 1, MaxRows))
            .Select(e => new LogEventView(e.Id, e.Timestamp, e.Level, e.Category, e.Message, e.Exception)).ToListAsync(cancellationToken);
    }
}
