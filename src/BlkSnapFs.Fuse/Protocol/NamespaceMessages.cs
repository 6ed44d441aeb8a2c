using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>fuse_mknod_in, followed by the new entry's name.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct MakeNodeIn
{
    public uint Mode;
    public uint DeviceNumber;
    public uint Umask;
    public uint Padding;
}

/// <summary>fuse_mkdir_in, followed by the new directory's name.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct MakeDirectoryIn
{
    public uint Mode;
    public uint Umask;
}

/// <summary>fuse_create_in, followed by the new file's name.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct CreateIn
{
    public int Flags;
    public uint Mode;
    public uint Umask;
    public uint OpenFlags;
}

/// <summary>The reply to CREATE: fuse_entry_out of the new file, then fuse_open_out of its handle.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct CreateOut
{
    public EntryOut Entry;
    public OpenOut Open;
}

/// <summary>fuse_link_in: the node that gets another name (which follows it).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct LinkIn
{
    public ulong ExistingNodeId;
}

/// <summary>fuse_rename_in, followed by the old name and the new one.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RenameIn
{
    public ulong NewParent;
}

/// <summary>fuse_rename2_in (renameat2 flags such as RENAME_NOREPLACE), followed by the old name and the new one.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct Rename2In
{
    public ulong NewParent;
    public uint Flags;
    public uint Padding;
}
