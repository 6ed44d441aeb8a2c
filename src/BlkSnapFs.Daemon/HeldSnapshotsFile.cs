using System.Text.Json.Nodes;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon;

/// <summary>A snapshot as the serving process left it: its id, its devices' names, and the storage files it created.</summary>
internal sealed record HeldSnapshot(Guid Id, IReadOnlyList<string> Devices, IReadOnlyList<string> CreatedFiles);

/// <summary>
/// The snapshots the serving process holds, kept beside the control socket so that a successor
/// taking over after a crash can report them corrupted and remove the storage files they created
/// (a snapshot does not outlive its process). Written whole and renamed over; removed at a clean stop.
/// </summary>
internal sealed class HeldSnapshotsFile(string path)
{
    public void Save(IEnumerable<Snapshot> snapshots)
    {
        var list = new JsonArray();
        foreach (var s in snapshots)
        {
            list.Add((JsonNode)new JsonObject
            {
                ["Id"] = s.Id.ToString(),
                ["Devices"] = new JsonArray([.. s.Devices.Select(d => JsonValue.Create(d.Name))]),
                ["CreatedFiles"] = new JsonArray([.. s.Storage.CreatedFiles.Select(f => JsonValue.Create(f))]),
            });
        }
        TakeoverFile.Replace(path, list);
    }

    /// <summary>What the previous process held; nothing when the file is missing or unreadable.</summary>
    public IReadOnlyList<HeldSnapshot> Read()
    {
        try
        {
            var held = new List<HeldSnapshot>();
            foreach (var s in TakeoverFile.Read(path))
            {
                if (Guid.TryParse(s["Id"]?.GetValue<string>(), out var id))
                {
                    held.Add(new HeldSnapshot(id,
                        [.. (s["Devices"] as JsonArray ?? []).Select(d => d?.GetValue<string>()).OfType<string>()],
                        [.. (s["CreatedFiles"] as JsonArray ?? []).Select(f => f?.GetValue<string>()).OfType<string>()]));
                }
            }
            return held;
        }
        catch (InvalidOperationException)
        {
            return []; // a value of the wrong kind
        }
    }

    public void Delete() => File.Delete(path);
}
