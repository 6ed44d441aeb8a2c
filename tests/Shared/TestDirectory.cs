namespace BlkSnapFs.Tests;

/// <summary>
/// A fresh directory under the temporary directory, removed with what it holds at the end of a test.
/// Keep <paramref name="prefix"/> short where sockets go in it: a socket path has at most 107 bytes.
/// <paramref name="parent"/>, when given, is where it is made instead (<see cref="DiskParent"/> for direct I/O).
/// </summary>
public sealed class TestDirectory(string prefix = "blksnapfs-test-", string? parent = null) : IDisposable
{
    /// <summary>A parent on a disk file system: tmpfs refuses O_DIRECT; /var/tmp is on disk here and in CI.</summary>
    public const string DiskParent = "/var/tmp";

    public string Path { get; } = parent is null
        ? Directory.CreateTempSubdirectory(prefix).FullName
        : Directory.CreateDirectory(System.IO.Path.Combine(parent, prefix + Guid.NewGuid().ToString("N"))).FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // a file still open by a failing test; the temporary directory is cleaned by the OS
        }
    }
}
