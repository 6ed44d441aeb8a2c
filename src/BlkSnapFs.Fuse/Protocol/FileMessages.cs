using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>fuse_open_in (OPEN and OPENDIR).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct OpenIn
{
    public int Flags;
    public uint OpenFlags;
}

/// <summary>fuse_open_out: the handle number and how the kernel should cache the file.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct OpenOut
{
    public ulong Handle;
    public OpenReplyFlags OpenFlags;
    public uint Padding;
}

/// <summary>fuse_read_in (READ, READDIR).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ReadIn
{
    public ulong Handle;
    public ulong Offset;
    public uint Size;
    public uint ReadFlags;
    public ulong LockOwner;
    public int Flags;
    public uint Padding;
}

/// <summary>fuse_write_in; the data follows it directly in the request.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct WriteIn
{
    public ulong Handle;
    public ulong Offset;
    public uint Size;
    public uint WriteFlags;
    public ulong LockOwner;
    public int Flags;
    public uint Padding;
}

/// <summary>fuse_write_out.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct WriteOut
{
    public uint Size;
    public uint Padding;
}

/// <summary>fuse_release_in (RELEASE, RELEASEDIR).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ReleaseIn
{
    public ulong Handle;
    public int Flags;
    public uint ReleaseFlags;
    public ulong LockOwner;
}

/// <summary>fuse_flush_in.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FlushIn
{
    public ulong Handle;
    public uint Unused;
    public uint Padding;
    public ulong LockOwner;
}

/// <summary>fuse_fsync_in; bit 0 of <see cref="FsyncFlags"/> asks for data only (fdatasync).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FsyncIn
{
    public ulong Handle;
    public uint FsyncFlags;
    public uint Padding;
}

/// <summary>fuse_fallocate_in: <see cref="Mode"/> holds fallocate(2)'s FALLOC_FL_* flags.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct FallocateIn
{
    public ulong Handle;
    public ulong Offset;
    public ulong Length;
    public uint Mode;
    public uint Padding;
}

/// <summary>fuse_poll_in; bit 0 of <see cref="Flags"/> asks for a wakeup notification on <see cref="KernelHandle"/>.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PollIn
{
    public const uint ScheduleNotify = 1;

    public ulong Handle;
    public ulong KernelHandle;
    public uint Flags;
    public uint Events;
}

/// <summary>fuse_poll_out.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct PollOut
{
    public uint ReadyEvents;
    public uint Padding;
}
