using System.Runtime.InteropServices;
using System.Text;

namespace BlkSnapFs.Daemon;

/// <summary>
/// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, with a descriptor in SCM_RIGHTS when one
/// goes to the service manager's file descriptor store (sd_pid_notify_with_fds). Nothing happens outside systemd.
/// </summary>
internal static unsafe class SystemdNotify
{
    public const string Variable = "NOTIFY_SOCKET";

    public static bool Available => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Variable));

    /// <summary>Sends <paramref name="state"/>, if there is a service manager to get it.</summary>
    public static void Send(string state) => _ = Send(state, -1);

    /// <summary>Sends <paramref name="state"/> with <paramref name="fd"/> attached (none when negative); 0, or an errno.</summary>
    public static int Send(string state, int fd)
    {
        var path = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(path))
            return Errno.ENOENT;
        var address = new SocketCalls.UnixAddress { Family = SocketCalls.AF_UNIX };
        var pathBytes = Encoding.UTF8.GetBytes(path);
        if (pathBytes.Length >= 108)
            return Errno.ENAMETOOLONG;
        // '@' names an abstract socket: a leading NUL, and the address ends with its last byte, not at a NUL.
        if (pathBytes[0] == (byte)'@')
            pathBytes[0] = 0;
        for (var i = 0; i < pathBytes.Length; i++)
            address.Path[i] = pathBytes[i];
        var addressLength = (uint)(sizeof(ushort) + pathBytes.Length + (pathBytes[0] == 0 ? 0 : 1));

        var text = Encoding.UTF8.GetBytes(state);
        // One cmsghdr (16 bytes) and one int, padded to 8 bytes: CMSG_SPACE(sizeof(int)).
        var control = stackalloc byte[24];
        new Span<byte>(control, 24).Clear();
        var socket = SocketCalls.socket(SocketCalls.AF_UNIX, SocketCalls.SOCK_DGRAM | SocketCalls.SOCK_CLOEXEC, 0);
        if (socket < 0)
            return Marshal.GetLastPInvokeError();
        try
        {
            fixed (byte* data = text)
            {
                var vector = new FileCalls.IoVector { Base = data, Length = (nuint)text.Length };
                var message = new SocketCalls.MessageHeader
                {
                    Name = &address,
                    NameLength = addressLength,
                    Vectors = &vector,
                    VectorCount = 1,
                };
                if (fd >= 0)
                {
                    var header = (SocketCalls.ControlMessageHeader*)control;
                    header->Length = (nuint)(sizeof(SocketCalls.ControlMessageHeader) + sizeof(int));
                    header->Level = SocketCalls.SOL_SOCKET;
                    header->Type = SocketCalls.SCM_RIGHTS;
                    *(int*)(control + sizeof(SocketCalls.ControlMessageHeader)) = fd;
                    message.Control = control;
                    message.ControlLength = 24;
                }
                return SocketCalls.sendmsg(socket, &message, 0) == text.Length ? 0 : Marshal.GetLastPInvokeError();
            }
        }
        finally
        {
            _ = FileCalls.close(socket);
        }
    }
}
