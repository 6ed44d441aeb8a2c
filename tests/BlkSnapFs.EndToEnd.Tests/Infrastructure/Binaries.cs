namespace BlkSnapFs.EndToEnd.Tests.Infrastructure;

/// <summary>Where the native blksnapfs and blksnap under test are: $BLKSNAPFS_BIN, else the repository's out/bin.</summary>
public static class Binaries
{
    private static readonly Lazy<string> Found = new(Find);

    public static string Directory => Found.Value;

    private static string Find()
    {
        var dir = Environment.GetEnvironmentVariable("BLKSNAPFS_BIN");
        if (string.IsNullOrEmpty(dir))
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "BlkSnapFs.sln")))
                {
                    dir = Path.Combine(d.FullName, "out", "bin");
                    break;
                }
            }
        }
        if (string.IsNullOrEmpty(dir))
            throw new InvalidOperationException("BLKSNAPFS_BIN is not set and no repository (BlkSnapFs.sln) encloses the test assembly; run `make` and set BLKSNAPFS_BIN=<repo>/out/bin");
        dir = Path.GetFullPath(dir);
        foreach (var program in (string[])["blksnapfs", "blksnap"])
        {
            if (!File.Exists(Path.Combine(dir, program)))
                throw new InvalidOperationException($"{Path.Combine(dir, program)} is missing: run `make` (or `make out/bin/blksnapfs out/bin/blksnap`) first");
        }
        return dir;
    }
}
