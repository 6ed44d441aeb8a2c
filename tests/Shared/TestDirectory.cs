namespace BlkSnapFs.Tests;

/// <summary>
/// A fresh directory under the temporary directory, removed with what it holds at the end of a test.
/// Keep <paramref name="prefix"/> short where sockets go in it: a socket path has at most 107 bytes.
/// </summary>
public sealed class TestDirectory(string prefix = "blksnapfs-test-") : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

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
