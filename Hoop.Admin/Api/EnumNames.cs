using System.Text.Json;
using System.Text.Json.Serialization;

namespace Hoop.Admin.Api;

/// <summary>
/// Enums in the API's JSON by name only, as written: a number, a numeric string or a comma-joined combination
/// ("Http, Postgres", which the standard converter reads as the flags of both) is refused. Names are matched
/// without regard to case; values are written as their names.
/// </summary>
internal sealed class EnumNames : JsonConverterFactory
{
    public override bool CanConvert(Type typeToConvert) => typeToConvert.IsEnum;

    public override JsonConverter CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Converter<>).MakeGenericType(typeToConvert))!;

    private sealed class Converter<TEnum> : JsonConverter<TEnum> where TEnum : struct, Enum
    {
        private static readonly Dictionary<string, TEnum> ByName =
            Enum.GetValues<TEnum>().ToDictionary(v => v.ToString(), v => v, StringComparer.OrdinalIgnoreCase);

        public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            reader.TokenType == JsonTokenType.String ? Parse(reader.GetString()) : throw new JsonException($"{typeof(TEnum).Name} is given by name.");

        public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());

        public override TEnum ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => Parse(reader.GetString());

        public override void WriteAsPropertyName(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options) => writer.WritePropertyName(value.ToString());

        private static TEnum Parse(string? name) =>
            name is not null && ByName.TryGetValue(name, out var value) ? value : throw new JsonException($"'{name}' is not a {typeof(TEnum).Name}.");
    }
}
