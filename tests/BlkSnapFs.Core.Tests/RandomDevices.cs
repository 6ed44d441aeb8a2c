namespace BlkSnapFs.Core.Tests;

/// <summary>Device files of random content in a test's directory.</summary>
public static class RandomDevices
{
    /// <summary>A file of <paramref name="size"/> bytes filled from <paramref name="random"/>.</summary>
    public static string Device(this TestDirectory directory, string name, long size, Random random)
    {
        var path = directory.File(name);
        var data = new byte[1 << 20];
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        for (long done = 0; done < size; done += data.Length)
        {
            random.NextBytes(data);
            stream.Write(data, 0, (int)Math.Min(data.Length, size - done));
        }
        return path;
    }
}
