using BlkSnapFs.Core;

namespace BlkSnapFs.Core.Tests;

/// <summary>Whole images and devices read into memory, to compare with what was written.</summary>
public static class ImageReader
{
    public static byte[] ReadAll(SnapshotImage image, int request = 1 << 20)
    {
        var data = new byte[image.Capacity];
        for (long at = 0; at < data.Length; at += request)
            image.Read(at, data.AsSpan((int)at, (int)Math.Min(request, data.Length - at)));
        return data;
    }

    public static byte[] ReadAll(TrackedDevice device)
    {
        var data = new byte[device.Capacity];
        device.Read(0, data);
        return data;
    }
}
