using System.Text.Json;
using System.Text.Json.Nodes;

namespace BlkSnapFs.Daemon;

/// <summary>
/// What a daemon keeps beside its control socket for a successor (a JSON list, or one value): written
/// whole to a new file (0600) and renamed over the old, so a reader sees one version or the other, never a torn one.
/// </summary>
internal static class TakeoverFile
{
    public static void Replace(string path, JsonArray list) => Replace(path, list.ToJsonString());

    public static void Replace(string path, string text)
    {
        var temporary = path + ".new";
        File.WriteAllText(temporary, text);
        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The list's objects; none when the file is missing or not a JSON list.</summary>
    public static IEnumerable<JsonObject> Read(string path)
    {
        try
        {
            return (JsonNode.Parse(File.ReadAllText(path)) as JsonArray ?? []).OfType<JsonObject>().ToList();
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return [];
        }
    }
}
