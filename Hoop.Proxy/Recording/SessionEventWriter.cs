using System.Data.Common;
using Hoop.Data.Entities;
using Hoop.Data.Store;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace Hoop.Proxy.Recording;

/// <summary>
/// Inserts session events with one prepared INSERT executed per row, inside the writer's transaction: the one
/// write every request makes, where EF Core's change tracking (or building a large statement per batch) costs
/// more than the write itself. Table and column names come from the EF model and parameters from EF's own type
/// mappings, so values are stored exactly as EF stores them and the SQL stays plain and portable.
/// </summary>
internal static class SessionEventWriter
{
    public static async Task InsertAsync(HoopDbContext db, IReadOnlyList<SessionEvent> events)
    {
        if (events.Count == 0)
        {
            return;
        }

        var entity = db.Model.FindEntityType(typeof(SessionEvent))!;
        string[] properties =
        [
            nameof(SessionEvent.SessionId), nameof(SessionEvent.Sequence), nameof(SessionEvent.At), nameof(SessionEvent.Kind),
            nameof(SessionEvent.Summary), nameof(SessionEvent.Content), nameof(SessionEvent.DurationMicroseconds),
            nameof(SessionEvent.Hash), nameof(SessionEvent.Mac), nameof(SessionEvent.Marks),
        ];
        var columns = properties.Select(p => entity.FindProperty(p)!).ToArray();

        var connection = db.Database.GetDbConnection();
        await using var command = connection.CreateCommand();
        command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
        command.CommandText = $"INSERT INTO {entity.GetTableName()} ({string.Join(", ", columns.Select(c => c.GetColumnName()))}) " +
            $"VALUES ({string.Join(", ", columns.Select((_, i) => "@p" + i))})";
        var parameters = new DbParameter[columns.Length];
        var mappings = columns.Select(c => c.GetRelationalTypeMapping()).ToArray();
        for (var i = 0; i < columns.Length; i++)
        {
            parameters[i] = mappings[i].CreateParameter(command, "@p" + i, null);
            command.Parameters.Add(parameters[i]);
        }

        await command.PrepareAsync();
        foreach (var e in events)
        {
            Set(0, e.SessionId);
            Set(1, e.Sequence);
            Set(2, e.At);
            Set(3, e.Kind);
            Set(4, e.Summary);
            Set(5, e.Content);
            Set(6, e.DurationMicroseconds);
            Set(7, (object?)e.Hash ?? DBNull.Value);
            Set(8, (object?)e.Mac ?? DBNull.Value);
            Set(9, e.Marks);
            await command.ExecuteNonQueryAsync();
        }

        void Set(int index, object value) =>
            parameters[index].Value = value is DBNull ? value : mappings[index].Converter?.ConvertToProvider(value) ?? value;
    }
}
