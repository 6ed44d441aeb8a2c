using System.Text.Json;

namespace BlkSnapFs.Fuzz;

/// <summary>
/// Keeps the control target inside its sandbox: a request line is sent only if, parsed by the same
/// parser the server uses (so what is checked is what the server would see, duplicate keys included),
/// no string in it could reach outside the sandbox directory or the machine's kernel devices:
/// no absolute path outside the sandbox, no "..", no nbd or dm frontend (those attach /dev/nbdN and
/// device-mapper devices), and no wait longer than a run may take. A line the parser rejects is sent
/// as it is: the server rejects it the same way.
/// </summary>
internal static class ControlLineFilter
{
    private const long LongestWaitMilliseconds = 50;
    private const long LargestSize = 16 << 20;

    public static bool Allows(ReadOnlySpan<byte> line, string sandbox)
    {
        if (!System.Text.Unicode.Utf8.IsValid(line))
        {
            return true;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line.ToArray());
        }
        catch (JsonException)
        {
            return true;
        }

        using (document)
        {
            return Allows(document.RootElement, sandbox);
        }
    }

    private static bool Allows(JsonElement element, string sandbox)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (!AllowsString(property.Name, sandbox) || !Allows(property.Value, sandbox) || !AllowsNumber(property))
                    {
                        return false;
                    }
                }

                return true;
            case JsonValueKind.Array:
                return element.EnumerateArray().All(item => Allows(item, sandbox));
            case JsonValueKind.String:
                return AllowsString(element.GetString()!, sandbox);
            default:
                return true;
        }
    }

    private static bool AllowsString(string text, string sandbox) =>
        !text.Contains("..", StringComparison.Ordinal)
        && (!text.StartsWith('/') || text.StartsWith(sandbox + "/", StringComparison.Ordinal))
        && text.ToLowerInvariant() is not ("nbd" or "dm");

    /// <summary>Waits and sizes stay small: a long wait is a hang by design, a large storage file fills the disk.</summary>
    private static bool AllowsNumber(JsonProperty property) =>
        property.Value.ValueKind != JsonValueKind.Number || property.Name switch
        {
            "timeout_ms" => !property.Value.TryGetInt64(out var wait) || wait <= LongestWaitMilliseconds,
            "size" or "limit" => !property.Value.TryGetInt64(out var size) || size <= LargestSize,
            _ => true,
        };
}
