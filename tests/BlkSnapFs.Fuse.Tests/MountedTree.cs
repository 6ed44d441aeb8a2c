using BlkSnapFs.Fuse.Tests.Nodes;
using BlkSnapFs.Fuse.Tree;

namespace BlkSnapFs.Fuse.Tests;

/// <summary>
/// The test tree mounted in a fresh temporary directory:
/// data (64 MiB memory file), readme (read-only text), events (blocking stream), slow (slow reads), devices/ (changing).
/// Disposing unmounts and removes the directory, forcing a lazy unmount if anything went wrong.
/// </summary>
internal sealed class MountedTree : IDisposable
{
    public const int DataSize = 64 << 20;
    public const string ReadmeText = "hello from the fuse binding\n";

    public MountedTree(FuseMountOptions? options = null)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("blksnapfs-fuse-").FullName;
        Root.Add("data", Data);
        Root.Add("readme", Readme);
        Root.Add("events", Events);
        Root.Add("slow", Slow);
        Root.Add("devices", Devices);
        try
        {
            Mount = FuseMount.Mount(Directory, Root, options);
        }
        catch
        {
            System.IO.Directory.Delete(Directory);
            throw;
        }
    }

    public string Directory { get; }

    public FuseMount Mount { get; }

    public DirectoryNode Root { get; } = new();

    public MemoryFileNode Data { get; } = new(DataSize);

    public TextFileNode Readme { get; } = new(ReadmeText);

    public EventsFileNode Events { get; } = new();

    public SlowFileNode Slow { get; } = new(TimeSpan.FromMilliseconds(400));

    public DirectoryNode Devices { get; } = new();

    public FuseStatistics Statistics => Mount.Statistics;

    public string PathOf(string relative) => Path.Combine(Directory, relative);

    public static bool IsMounted(string directory) =>
        File.ReadAllLines("/proc/self/mounts").Any(line => line.Split(' ')[1] == directory);

    public void Dispose()
    {
        try
        {
            Mount.Unmount();
            Mount.Wait(TimeSpan.FromSeconds(5));
        }
        finally
        {
            if (IsMounted(Directory))
            {
                Tools.Run("umount", "-l", Directory);
            }

            System.IO.Directory.Delete(Directory);
        }
    }
}
