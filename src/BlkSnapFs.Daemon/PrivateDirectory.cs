using System.Runtime.InteropServices;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon;

/// <summary>
/// A directory the daemon keeps sockets or state in, which no one but the daemon's user may change: whoever
/// can write to it can replace a socket with one of their own and have clients talk to them. An existing one
/// must be a directory itself (not a symbolic link), owned by the daemon's effective uid and writable by
/// neither group nor others, else the daemon refuses it (EPERM). Its parent is not looked at: a sticky
/// /tmp is a fine parent, as there no one else may rename or remove what the daemon made.
/// </summary>
internal static class PrivateDirectory
{
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private const UnixFileMode WritableByOthers = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    /// <summary>False when nothing is at <paramref name="path"/>; EPERM (ENOTDIR) when what is there may not be used.</summary>
    public static bool Check(string path, string what)
    {
        if (!TryStatus(path, out var status))
            return false;
        if ((status.Mode & FileStatus.S_IFMT) != FileStatus.S_IFDIR)
        {
            var kind = (status.Mode & FileStatus.S_IFMT) == FileStatus.S_IFLNK ? "a symbolic link" : "not a directory";
            throw new BlkSnapException(Errno.ENOTDIR, $"{what} {path} is {kind}: refusing to use it");
        }
        var uid = ProcessCalls.geteuid();
        if (status.Uid != uid)
            throw new BlkSnapException(Errno.EPERM, $"{what} {path} (mode {Octal(status.Mode)}) is owned by uid {status.Uid}, not this daemon's uid {uid}: refusing to use it");
        if (((UnixFileMode)status.Mode & WritableByOthers) != 0)
            throw new BlkSnapException(Errno.EPERM, $"{what} {path} has mode {Octal(status.Mode)}, writable by group or others: refusing to use it");
        return true;
    }

    /// <summary>
    /// Makes <paramref name="path"/> (and any missing parent) with exactly <paramref name="mode"/>, whatever the
    /// umask, or checks the one that exists. mkdir applies the umask, which only takes bits away, so until the
    /// chmod the directory is never more open than asked; a name someone made meanwhile fails mkdir and is checked.
    /// </summary>
    public static void Ensure(string path, UnixFileMode mode, string what)
    {
        var full = Path.GetFullPath(path);
        if (Check(full, what))
            return;
        if (Path.GetDirectoryName(full) is { } parent && !Directory.Exists(parent))
            Ensure(parent, mode, what);
        if (FileCalls.mkdir(full, (int)mode) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == Errno.EEXIST && Check(full, what))
                return;
            throw new BlkSnapException(errno, $"{what} {full}: cannot create it");
        }
        File.SetUnixFileMode(full, mode);
        if (!TryStatus(full, out var made) || (made.Mode & FileStatus.S_IFMT) != FileStatus.S_IFDIR ||
            made.Uid != ProcessCalls.geteuid() || (UnixFileMode)(made.Mode & 0xFFF) != mode)
        {
            throw new BlkSnapException(Errno.EPERM, $"{what} {full} was made with mode {Octal((uint)mode)} but is not so now: refusing to use it");
        }
    }

    /// <summary>The permission bits (with setuid, setgid and sticky) as ls and chmod write them.</summary>
    public static string Octal(uint mode) => Convert.ToString(mode & 0xFFF, 8).PadLeft(4, '0');

    private static unsafe bool TryStatus(string path, out FileStatus.StatxBuffer status)
    {
        FileStatus.StatxBuffer buffer;
        if (FileStatus.statx(FileStatus.AT_FDCWD, path, FileStatus.AT_SYMLINK_NOFOLLOW,
                FileStatus.STATX_TYPE | FileStatus.STATX_MODE | FileStatus.STATX_UID, &buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            status = default;
            if (errno == Errno.ENOENT)
                return false;
            throw new BlkSnapException(errno, $"{path}: cannot look at it");
        }
        status = buffer;
        return true;
    }
}
