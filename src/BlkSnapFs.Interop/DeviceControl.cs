using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Interop;

/// <summary>ioctl(2) and the requests the programs send, with their C names.</summary>
public static unsafe partial class DeviceControl
{
    /// <summary>_IOR(0x12, 114, size_t) of linux/fs.h: a block device's size in bytes.</summary>
    public const nuint BLKGETSIZE64 = 0x80081272;

    /// <summary>_IO(0x12, 104) of linux/fs.h: a block device's logical sector size.</summary>
    public const nuint BLKSSZGET = 0x1268;

    /// <summary>_IOWR('X', 119, int) and _IOWR('X', 120, int) of linux/fs.h: freeze and thaw a file system.</summary>
    public const nuint FIFREEZE = 0xC0045877;
    public const nuint FITHAW = 0xC0045878;

    /// <summary>_IOWR('f', 11, struct fiemap) of linux/fs.h, struct fiemap being 32 bytes.</summary>
    public const nuint FS_IOC_FIEMAP = 0xC020660B;

    /// <summary>_IOR(229, 0, uint32_t) of linux/fuse.h: attach a new /dev/fuse descriptor to a session.</summary>
    public const nuint FUSE_DEV_IOC_CLONE = 0x8004E500;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, void* argument);

    /// <summary>ioctl on a handle, which stays open until the call returns.</summary>
    public static int ioctl(SafeFileHandle fd, nuint request, void* argument)
    {
        var added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            return ioctl((int)fd.DangerousGetHandle(), request, argument);
        }
        finally
        {
            if (added)
                fd.DangerousRelease();
        }
    }
}
