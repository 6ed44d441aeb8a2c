using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace BlkSnapFs.Cli;

/// <summary>
/// What a backup was made from, kept beside it as <c>FILE.blksnap.json</c> and written last:
/// a data file without one is not a usable base.
/// </summary>
internal sealed record BackupRecord(string Device, string DevicePath, long Capacity, long BlockSize, string GenerationId, int ChangesNumber,
    DateTime Time, string Format, string? Base)
{
    public const string Suffix = ".blksnap.json";

    public static string SidecarOf(string file) => file + Suffix;

    public static BackupRecord Of(BackupDevice device, string format, string? basePath) =>
        new(device.Name, device.Path, device.Capacity, device.BlockSize, device.GenerationId, device.ChangesNumber,
            DateTime.UtcNow, format, basePath is null ? null : Path.GetFileName(basePath));

    /// <summary>The sidecar of <paramref name="file"/>; null when there is none.</summary>
    public static BackupRecord? ReadFor(string file)
    {
        var path = SidecarOf(file);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CliException.FromFileError(ex, path);
        }

        try
        {
            var o = JsonNode.Parse(text)!.AsObject();
            return new BackupRecord((string)o["device"]!, (string)o["device_path"]!, (long)o["capacity"]!, (long)o["block_size"]!,
                (string)o["generation_id"]!, (int)o["changes_number"]!,
                DateTime.Parse((string)o["time"]!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal),
                (string)o["format"]!, (string?)o["base"]);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or NullReferenceException or FormatException)
        {
            throw new CliException(CliException.Describe(Errno.EBADMSG, $"{path} is not a backup record"));
        }
    }

    public string ToJson() => new JsonObject
    {
        ["device"] = Device,
        ["device_path"] = DevicePath,
        ["capacity"] = Capacity,
        ["block_size"] = BlockSize,
        ["generation_id"] = GenerationId,
        ["changes_number"] = ChangesNumber,
        ["time"] = Time.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        ["format"] = Format,
        ["base"] = Base,
    }.ToJsonString() + "\n";

    /// <summary>Why a backup of <paramref name="current"/> cannot build on the one this records; null when it can.</summary>
    public string? RefusalFor(BackupDevice current)
    {
        if (Device != current.Name)
        {
            return $"it is a backup of {Device}, not of {current.Name}";
        }

        if (Capacity != current.Capacity)
        {
            return $"the capacity changed from {Capacity} to {current.Capacity} bytes";
        }

        if (BlockSize != current.BlockSize)
        {
            return $"the tracking block size changed from {BlockSize} to {current.BlockSize} bytes";
        }

        if (GenerationId != current.GenerationId)
        {
            return $"the change tracking restarted (generation {GenerationId}, now {current.GenerationId})";
        }

        if (current.ChangesNumber == BackupDevice.WrappingNumber)
        {
            return "the snapshot numbers wrapped at this snapshot, which started an empty change map";
        }

        if (ChangesNumber >= current.ChangesNumber)
        {
            return $"it was made from snapshot {ChangesNumber}, not earlier than the current snapshot {current.ChangesNumber}";
        }

        return null;
    }
}
