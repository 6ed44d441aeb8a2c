using System.Text.Json;

namespace BlkSnapFs.Cli;

/// <summary>What the daemon says of a device whose taken snapshot is backed up: its tracker's facts and its image.</summary>
internal sealed record BackupDevice(string Name, string Path, long Capacity, long BlockSize, string GenerationId, int ChangesNumber, string Image)
{
    /// <summary>The snapshot number 255 is the take that wrapped: a new generation whose map is empty.</summary>
    public const int WrappingNumber = 255;

    public static BackupDevice Query(ControlClient client, string device)
    {
        var resolved = Paths.Device(device);
        var info = client.Call("snapshot_info", request => request.WriteString("device", resolved));
        var image = info.RequiredString("image");
        if (image.Length == 0)
        {
            throw new CliException($"{device} has no taken snapshot");
        }

        if (CorruptionOf(info) is int errno)
        {
            throw new CliException(CliException.Describe(errno, $"the snapshot of {device} is corrupted"));
        }

        var cbt = client.Call("cbtinfo", request => request.WriteString("device", resolved));

        // The image lives at MOUNT/NAME/image: its directory is the device's name.
        var name = System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(image)) ?? device;
        var path = client.Call("list").Required("devices").EnumerateArray()
            .Where(entry => entry.TryGetProperty("name", out var n) && n.GetString() == name)
            .Select(entry => entry.RequiredString("path")).FirstOrDefault() ?? resolved;
        return new BackupDevice(name, path, cbt.RequiredInteger("device_capacity"), cbt.RequiredInteger("block_size"),
            cbt.RequiredString("generation_id"), (int)cbt.RequiredInteger("changes_number"), image);
    }

    /// <summary>
    /// The errno that corrupted the device's snapshot since the query, if one did. A read that raced
    /// the overflow may have returned the original's new data, so a copy is kept only when this is null after it.
    /// </summary>
    public int? CorruptionSince(ControlClient client) =>
        CorruptionOf(client.Call("snapshot_info", request => request.WriteString("device", Paths.Device(Path))));

    private static int? CorruptionOf(JsonElement info) => info.RequiredInteger("error_code") is < 0 and long error ? (int)-error : null;

    /// <summary>The change map beside the image: frozen at the take while the snapshot is held.</summary>
    public string ChangeMap => System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Image)!, "cbtmap");
}
