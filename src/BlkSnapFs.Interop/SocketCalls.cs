using System.Runtime.InteropServices;

namespace BlkSnapFs.Interop;

/// <summary>The socket calls for what System.Net.Sockets does not reach: netlink, and descriptor passing (SCM_RIGHTS).</summary>
public static unsafe partial class SocketCalls
{
    public const int AF_UNIX = 1;
    public const int AF_NETLINK = 16;
    public const int SOCK_STREAM = 1;
    public const int SOCK_DGRAM = 2;
    public const int SOCK_RAW = 3;
    public const int SOCK_SEQPACKET = 5;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1;
    public const int SCM_RIGHTS = 1;
    public const int NETLINK_GENERIC = 16;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;

    /// <summary>struct msghdr.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public FileCalls.IoVector* Vectors;
        public nuint VectorCount;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct cmsghdr, the header of one ancillary item (its data follows, aligned to 8 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ControlMessageHeader
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    /// <summary>struct sockaddr_un: sun_path's 108 bytes after the family.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct UnixAddress
    {
        public ushort Family;
        public fixed byte Path[108];
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socketpair(int domain, int type, int protocol, int* fds);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, byte* buffer, nuint length, int flags);

    /// <summary>
    /// Sends what the socket takes now without waiting for room: the byte count, 0 when it has no
    /// room (EAGAIN), or -1 with the errno set.
    /// </summary>
    public static nint SendWithoutWaiting(SafeHandle socket, ReadOnlySpan<byte> data)
    {
        var added = false;
        try
        {
            socket.DangerousAddRef(ref added);
            fixed (byte* start = data)
            {
                while (true)
                {
                    var sent = send((int)socket.DangerousGetHandle(), start, (nuint)data.Length, MSG_DONTWAIT | MSG_NOSIGNAL);
                    if (sent >= 0)
                        return sent;
                    var errno = Marshal.GetLastPInvokeError();
                    if (errno == Errno.EAGAIN)
                        return 0;
                    if (errno != Errno.EINTR)
                        return -1;
                }
            }
        }
        finally
        {
            if (added)
                socket.DangerousRelease();
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint sendmsg(int fd, MessageHeader* message, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recvmsg(int fd, MessageHeader* message, int flags);
}
