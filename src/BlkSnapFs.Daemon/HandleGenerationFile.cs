using System.Globalization;

namespace BlkSnapFs.Daemon;

/// <summary>
/// The file handle generation (<see cref="Fuse.FuseMountOptions.HandleGeneration"/>) the supervisor gave its newest
/// serving process, kept beside the control socket. A supervisor that takes over a connection from systemd's store
/// starts after it, so that no handle id it gives out is one the dead daemon gave out: the kernel still holds those
/// for the files left open across the crash, and each is opened again on first use.
/// </summary>
internal sealed class HandleGenerationFile(string path)
{
    /// <summary>The generation written last; null when there is none (the previous daemon stopped cleanly, or never wrote it).</summary>
    public ushort? Read()
    {
        try
        {
            return ushort.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var generation) ? generation : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Replaced whole (<see cref="TakeoverFile"/>), so a reader sees one value or the other.</summary>
    public void Write(ushort generation) => TakeoverFile.Replace(path, generation.ToString(CultureInfo.InvariantCulture));

    public void Delete() => File.Delete(path);
}
