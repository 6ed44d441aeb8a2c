using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon;

/// <summary>Where users see tracked devices (the FUSE tree): told when devices and images come and go.</summary>
public interface IDeviceView
{
    /// <summary>A device came; <paramref name="describe"/> tells, whenever asked, how it is reached now.</summary>
    void DeviceAttached(TrackedDevice device, Frontend frontend, Func<FrontendInfo> describe);
    void DeviceDetached(TrackedDevice device);
    void ImagesChanged(Snapshot snapshot);

    /// <summary>The path a user opens to read the device's image.</summary>
    string ImagePath(TrackedDevice device);

    /// <summary>The path of one of the files (image, live, ...) of the device of that name.</summary>
    string FilePath(string deviceName, string file);
}
