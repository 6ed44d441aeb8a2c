using System.Runtime.InteropServices;

namespace BlkSnapFs.Interop;

/// <summary>mount(2) and umount2(2).</summary>
public static partial class MountCalls
{
    public const ulong MS_NOSUID = 2;
    public const ulong MS_NODEV = 4;
    public const int MNT_DETACH = 2;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int mount(string source, string target, string fileSystemType, ulong flags, string data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int umount2(string target, int flags);
}
