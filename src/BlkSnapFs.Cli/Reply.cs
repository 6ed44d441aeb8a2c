using System.Text.Json;

namespace BlkSnapFs.Cli;

/// <summary>Reading the results of a successful reply; a missing or mistyped one is a malformed reply.</summary>
internal static class Reply
{
    public static JsonElement Required(this JsonElement reply, string key) =>
        reply.TryGetProperty(key, out var value) && value.ValueKind != JsonValueKind.Null
            ? value
            : throw ControlClient.Malformed($"\"{key}\" is missing");

    public static string RequiredString(this JsonElement reply, string key)
    {
        var value = reply.Required(key);
        return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw ControlClient.Malformed($"\"{key}\" is not a string");
    }

    public static bool RequiredBoolean(this JsonElement reply, string key)
    {
        var value = reply.Required(key);
        return value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : throw ControlClient.Malformed($"\"{key}\" is not a boolean");
    }

    public static long RequiredInteger(this JsonElement reply, string key)
    {
        var value = reply.Required(key);
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number)
            ? number
            : throw ControlClient.Malformed($"\"{key}\" is not an integer");
    }
}
