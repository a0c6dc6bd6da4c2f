using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hoop.Data.Records;

/// <summary>
/// How recorded events are written and read: System.Text.Json with generated code (no reflection on the data
/// path), camelCase names, nulls left out. Readers pick the record by the event's kind.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(HttpExchangeRecord))]
[JsonSerializable(typeof(SqlQueryRecord))]
public sealed partial class RecordJson : JsonSerializerContext
{
    public static string Write(HttpExchangeRecord record) => JsonSerializer.Serialize(record, Default.HttpExchangeRecord);

    public static string Write(SqlQueryRecord record) => JsonSerializer.Serialize(record, Default.SqlQueryRecord);

    /// <summary>An HTTP event's record, or null when the kind is not HTTP or the content does not read as one.</summary>
    public static HttpExchangeRecord? ReadHttp(string kind, string content) =>
        kind.StartsWith(EventKinds.Http, StringComparison.Ordinal) ? Read(content, Default.HttpExchangeRecord) : null;

    /// <summary>A SQL event's record, or null when the kind is not SQL or the content does not read as one.</summary>
    public static SqlQueryRecord? ReadSql(string kind, string content) =>
        kind.StartsWith(EventKinds.Sql, StringComparison.Ordinal) ? Read(content, Default.SqlQueryRecord) : null;

    private static T? Read<T>(string content, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(content, type);
        }
        catch (JsonException)
        {
            // Changed in the store, or not written by Hoop: the event is still shown as its text.
            return null;
        }
    }
}
