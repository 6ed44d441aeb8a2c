using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>The few libc calls the binding needs, source-generated so no marshalling stubs run per request.</summary>
internal static unsafe partial class NativeMethods
{
    private const string LibC = "libc";

    internal const int ReadWrite = 2;
    internal const int CloseOnExec = 0x80000;
    internal const ulong MountNoSuid = 2;
    internal const ulong MountNoDev = 4;
    internal const int UnmountDetach = 2;
    internal const int AddressFamilyUnix = 1;
    internal const int SocketStream = 1;
    internal const int SocketLevel = 1;
    internal const int ScmRights = 1;

    /// <summary>FUSE_DEV_IOC_CLONE = _IOR(229, 0, uint32_t).</summary>
    internal const ulong FuseDeviceCloneRequest = 0x8004E500;

    [StructLayout(LayoutKind.Sequential)]
    internal struct IoVector
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVector* Vectors;
        public nuint VectorCount;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport(LibC, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    [LibraryImport(LibC, EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);

    [LibraryImport(LibC, EntryPoint = "read", SetLastError = true)]
    internal static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport(LibC, EntryPoint = "write", SetLastError = true)]
    internal static partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport(LibC, EntryPoint = "writev", SetLastError = true)]
    internal static partial nint WriteVector(int fd, IoVector* vectors, int count);

    [LibraryImport(LibC, EntryPoint = "ioctl", SetLastError = true)]
    internal static partial int IoControl(int fd, ulong request, uint* argument);

    [LibraryImport(LibC, EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Mount(string source, string target, string fileSystemType, ulong flags, string data);

    [LibraryImport(LibC, EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Unmount(string target, int flags);

    /// <summary>statfs(2) into a caller's buffer of at least <see cref="StatFsSize"/> bytes (struct statfs is 120 on x86-64).</summary>
    [LibraryImport(LibC, EntryPoint = "statfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int StatFs(string path, byte* buffer);

    internal const int StatFsSize = 256;

    [LibraryImport(LibC, EntryPoint = "socketpair", SetLastError = true)]
    internal static partial int SocketPair(int domain, int type, int protocol, int* fds);

    [LibraryImport(LibC, EntryPoint = "recvmsg", SetLastError = true)]
    internal static partial nint ReceiveMessage(int fd, MessageHeader* message, int flags);

    [LibraryImport(LibC, EntryPoint = "geteuid")]
    internal static partial uint GetEffectiveUserId();

    internal static int LastError => Marshal.GetLastPInvokeError();
}
