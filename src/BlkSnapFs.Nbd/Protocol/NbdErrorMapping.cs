namespace BlkSnapFs.Nbd.Protocol;

/// <summary>Turns backend failures into the few error values the protocol defines.</summary>
internal static class NbdErrorMapping
{
    public static NbdError FromException(Exception exception) => FromErrno(Errno.Of(exception));

    public static NbdError FromErrno(int errno) => errno switch
    {
        Errno.EPERM or Errno.EACCES or Errno.EROFS => NbdError.NotPermitted,
        Errno.ENOMEM => NbdError.OutOfMemory,
        Errno.EINVAL => NbdError.InvalidArgument,
        Errno.ENOSPC or Errno.EDQUOT or Errno.EFBIG => NbdError.NoSpace,
        Errno.EOVERFLOW => NbdError.Overflow,
        Errno.EOPNOTSUPP => NbdError.NotSupported,
        Errno.ESHUTDOWN => NbdError.Shutdown,
        _ => NbdError.IoError,
    };
}
