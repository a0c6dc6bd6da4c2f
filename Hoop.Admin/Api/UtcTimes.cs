using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hoop.Admin.Api;

/// <summary>
/// Every time in the API's JSON is UTC in ISO 8601 with a 'Z'. Hoop stores UTC only, but SQLite gives a DateTime
/// back with an unspecified kind, which the default converter writes without any offset (so a client reads it
/// as its own local time). A time read without an offset is taken as UTC; one with an offset is converted.
/// </summary>
internal sealed class UtcTimes : JsonConverter<DateTime>
{
    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var value = reader.GetDateTime();
        return value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : DateTime.SpecifyKind(value, DateTimeKind.Utc);
    }

    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.Kind == DateTimeKind.Local ? value.ToUniversalTime() : DateTime.SpecifyKind(value, DateTimeKind.Utc));
}
