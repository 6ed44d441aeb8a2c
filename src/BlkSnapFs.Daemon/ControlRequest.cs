using System.Text.Json;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon;

/// <summary>
/// Typed access to a request's parameters; a missing or mistyped one is EINVAL naming it. Strings
/// name devices, files and directories, so none may hold a NUL (no path can), and a required one, or
/// a path, may not be empty.
/// </summary>
public readonly struct ControlRequest(JsonElement root)
{
    public string String(string name) =>
        NotEmpty(name, OptionalString(name) ?? throw new BlkSnapException(Errno.EINVAL, $"missing \"{name}\""));

    public string? OptionalString(string name) => root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null
        ? v.ValueKind == JsonValueKind.String ? WithoutNul(name, v.GetString()!) : throw Bad(name, "a string")
        : null;

    /// <summary>An optional file or directory: absent, or a string that is not empty.</summary>
    public string? OptionalPath(string name) => OptionalString(name) is { } path ? NotEmpty(name, path) : null;

    public long? OptionalLong(string name) => root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null
        ? v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : throw Bad(name, "a whole number")
        : null;

    public Guid Id(string name = "id")
    {
        var text = String(name);
        return Guid.TryParse(text, out var id) ? id : throw new BlkSnapException(Errno.EINVAL, $"\"{name}\": '{text}' is not a snapshot id");
    }

    public IReadOnlyList<string> Strings(string name)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Array)
            throw Bad(name, "an array of strings");
        return v.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? NotEmpty(name, WithoutNul(name, e.GetString()!)) : throw Bad(name, "an array of strings")).ToList();
    }

    public IReadOnlyList<(long, long)> Ranges(string name)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Array)
            throw Bad(name, "an array of [sector, count] pairs");
        var ranges = new List<(long, long)>();
        foreach (var pair in v.EnumerateArray())
        {
            // TryGetInt64 throws on a string or null rather than failing: check the kinds first.
            if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2 ||
                pair[0].ValueKind != JsonValueKind.Number || pair[1].ValueKind != JsonValueKind.Number ||
                !pair[0].TryGetInt64(out var sector) || !pair[1].TryGetInt64(out var count))
            {
                throw Bad(name, "an array of [sector, count] pairs");
            }

            ranges.Add((sector, count));
        }
        return ranges;
    }

    private static BlkSnapException Bad(string name, string what) => new(Errno.EINVAL, $"\"{name}\" must be {what}");

    // Path APIs throw ArgumentException for an empty path or one with a NUL, which would surface as EIO.
    private static string NotEmpty(string name, string value) =>
        value.Length > 0 ? value : throw new BlkSnapException(Errno.EINVAL, $"\"{name}\" is empty");

    private static string WithoutNul(string name, string value) =>
        value.Contains('\0') ? throw new BlkSnapException(Errno.EINVAL, $"\"{name}\" holds a NUL character") : value;
}
