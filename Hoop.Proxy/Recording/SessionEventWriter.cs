using System.Text;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;

namespace Hoop.Proxy.Recording;

/// <summary>
/// Inserts session events with multi-row INSERT statements: the one write that happens for every request,
/// where EF Core's per-entity change tracking costs more than the write itself. Table and column names come
/// from the EF model and values go through EF's parameter type mappings, so the SQL stays plain and portable.
/// </summary>
internal static class SessionEventWriter
{
    private const int RowsPerStatement = 100;

    public static async Task InsertAsync(HoopDbContext db, IReadOnlyList<SessionEvent> events)
    {
        if (events.Count == 0)
        {
            return;
        }

        var entity = db.Model.FindEntityType(typeof(SessionEvent))!;
        string Column(string property) => entity.FindProperty(property)!.GetColumnName();
        var head = $"INSERT INTO {entity.GetTableName()} ({Column(nameof(SessionEvent.SessionId))}, {Column(nameof(SessionEvent.Sequence))}, " +
            $"{Column(nameof(SessionEvent.At))}, {Column(nameof(SessionEvent.Kind))}, {Column(nameof(SessionEvent.Summary))}, " +
            $"{Column(nameof(SessionEvent.Content))}, {Column(nameof(SessionEvent.DurationMicroseconds))}) VALUES ";

        for (var start = 0; start < events.Count; start += RowsPerStatement)
        {
            var rows = Math.Min(RowsPerStatement, events.Count - start);
            var sql = new StringBuilder(head, head.Length + rows * 40);
            var values = new object[rows * 7];
            for (var i = 0; i < rows; i++)
            {
                var e = events[start + i];
                var p = i * 7;
                sql.Append(i == 0 ? "" : ", ")
                    .Append('(').Append('{').Append(p).Append("}, {").Append(p + 1).Append("}, {").Append(p + 2)
                    .Append("}, {").Append(p + 3).Append("}, {").Append(p + 4).Append("}, {").Append(p + 5)
                    .Append("}, {").Append(p + 6).Append("})");
                values[p] = e.SessionId;
                values[p + 1] = e.Sequence;
                values[p + 2] = e.At;
                values[p + 3] = e.Kind;
                values[p + 4] = e.Summary;
                values[p + 5] = e.Content;
                values[p + 6] = e.DurationMicroseconds;
            }

            await db.Database.ExecuteSqlRawAsync(sql.ToString(), values);
        }
    }
}
