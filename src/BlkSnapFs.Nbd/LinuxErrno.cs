namespace BlkSnapFs.Nbd;

/// <summary>Linux errno values a backend reports through <see cref="NbdException"/>.</summary>
public static class LinuxErrno
{
    public const int EPERM = 1;
    public const int EIO = 5;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFBIG = 27;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int EROFS = 30;
    public const int EPROTO = 71;
    public const int EOVERFLOW = 75;
    public const int ENOTSUP = 95;
    public const int ECONNRESET = 104;
    public const int ESHUTDOWN = 108;
    public const int ECONNREFUSED = 111;
    public const int EDQUOT = 122;
}
