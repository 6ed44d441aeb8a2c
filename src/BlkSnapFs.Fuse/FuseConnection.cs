namespace BlkSnapFs.Fuse;

/// <summary>
/// What another process needs to serve a mount this one made: the /dev/fuse descriptor (numbered in
/// the process that holds it) and the protocol minor version INIT agreed on.
/// </summary>
public sealed record FuseConnection(int DeviceFd, string MountPoint, uint MinorVersion);
