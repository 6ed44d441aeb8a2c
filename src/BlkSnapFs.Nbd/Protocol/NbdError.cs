namespace BlkSnapFs.Nbd.Protocol;

/// <summary>The error values the protocol allows in a reply.</summary>
internal enum NbdError : uint
{
    None = 0,
    NotPermitted = 1,
    IoError = 5,
    OutOfMemory = 12,
    InvalidArgument = 22,
    NoSpace = 28,
    Overflow = 75,
    NotSupported = 95,
    Shutdown = 108,
}
