namespace BlkSnapFs.Nbd.Tests;

/// <summary>Creates sparse backing files: seeded random data with holes in between.</summary>
public static class TestImage
{
    public const int MiB = 1024 * 1024;

    /// <summary>
    /// Writes <paramref name="size"/> bytes where every other <paramref name="stripe"/> is
    /// random data and the rest are holes; returns the file's contents.
    /// </summary>
    public static byte[] CreateStriped(string path, int size, int stripe, int seed)
    {
        var contents = new byte[size];
        var random = new Random(seed);
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        file.SetLength(size);
        for (var offset = 0; offset < size; offset += 2 * stripe)
        {
            var length = Math.Min(stripe, size - offset);
            random.NextBytes(contents.AsSpan(offset, length));
            file.Position = offset;
            file.Write(contents, offset, length);
        }

        return contents;
    }
}
