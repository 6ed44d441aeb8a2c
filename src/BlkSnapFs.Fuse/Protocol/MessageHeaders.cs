using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>fuse_in_header: starts every request read from /dev/fuse.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct RequestHeader
{
    public uint Length;
    public FuseOpcode Opcode;
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;
    public ushort ExtensionLength;
    public ushort Padding;
}

/// <summary>fuse_out_header: starts every reply and notification written to /dev/fuse.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct ReplyHeader
{
    public uint Length;
    public int Error;
    public ulong Unique;
}
