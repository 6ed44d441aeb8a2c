namespace BlkSnapFs.Core;

/// <summary>Bounds checks shared by devices and images, with the errnos a file would give.</summary>
internal static class Ranges
{
    public static int Readable(long offset, int length, long capacity)
    {
        if (offset < 0)
            throw new BlkSnapException(Errno.EINVAL, $"negative offset {offset}");
        return offset >= capacity ? 0 : (int)Math.Min(length, capacity - offset);
    }

    public static void CheckWritable(long offset, long length, long capacity, string name)
    {
        if (offset < 0 || length < 0)
            throw new BlkSnapException(Errno.EINVAL, $"{name}: negative offset or length ({offset}, {length})");
        if (offset > capacity - length)
            throw new BlkSnapException(Errno.ENOSPC, $"{name}: {length} bytes at {offset} end past the device's {capacity} bytes");
    }
}
