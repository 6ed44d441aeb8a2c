namespace BlkSnapFs.Nbd.Protocol;

/// <summary>Turns backend failures into the few error values the protocol defines.</summary>
internal static class NbdErrorMapping
{
    public static NbdError FromException(Exception exception) => exception switch
    {
        NbdException nbd => FromErrno(nbd.Errno),
        UnauthorizedAccessException => NbdError.NotPermitted,
        NotSupportedException => NbdError.NotSupported,
        ArgumentException => NbdError.InvalidArgument,
        OutOfMemoryException => NbdError.OutOfMemory,
        IOException io when io.HResult > 0 => FromErrno(io.HResult),
        _ => NbdError.IoError,
    };

    public static NbdError FromErrno(int errno) => errno switch
    {
        LinuxErrno.EPERM or LinuxErrno.EACCES or LinuxErrno.EROFS => NbdError.NotPermitted,
        LinuxErrno.ENOMEM => NbdError.OutOfMemory,
        LinuxErrno.EINVAL => NbdError.InvalidArgument,
        LinuxErrno.ENOSPC or LinuxErrno.EDQUOT or LinuxErrno.EFBIG => NbdError.NoSpace,
        LinuxErrno.EOVERFLOW => NbdError.Overflow,
        LinuxErrno.ENOTSUP => NbdError.NotSupported,
        LinuxErrno.ESHUTDOWN => NbdError.Shutdown,
        _ => NbdError.IoError,
    };
}
