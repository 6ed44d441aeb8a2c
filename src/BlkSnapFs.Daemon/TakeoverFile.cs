using System.Text.Json;
using System.Text.Json.Nodes;

namespace BlkSnapFs.Daemon;

/// <summary>
/// A JSON list a serving process keeps beside its control socket for a successor: written whole to a
/// new file (0600) and renamed over the old, so a reader sees one version or the other, never a torn one.
/// </summary>
internal static class TakeoverFile
{
    public static void Replace(string path, JsonArray list)
    {
        var temporary = path + ".new";
        File.WriteAllText(temporary, list.ToJsonString());
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
