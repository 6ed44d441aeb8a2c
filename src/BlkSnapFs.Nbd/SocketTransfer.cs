using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace BlkSnapFs.Nbd;

/// <summary>Blocking whole-buffer transfers on a stream socket.</summary>
internal static class SocketTransfer
{
    /// <summary>Fills <paramref name="buffer"/>; false if the peer closed before sending anything.</summary>
    public static bool TryReceiveExactly(Socket socket, Span<byte> buffer)
    {
        var first = socket.Receive(buffer);
        if (first == 0)
        {
            return false;
        }

        ReceiveExactly(socket, buffer[first..]);
        return true;
    }

    public static void ReceiveExactly(Socket socket, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var received = socket.Receive(buffer);
            if (received == 0)
            {
                throw ClosedMidMessage();
            }

            buffer = buffer[received..];
        }
    }

    public static EndOfStreamException ClosedMidMessage() => new("The client closed the connection mid-message.");

    /// <summary>Sends what the socket takes without waiting for room: the byte count, 0 when it has none.</summary>
    public static int SendWithoutWaiting(Socket socket, ReadOnlySpan<byte> data)
    {
        var sent = SocketCalls.SendWithoutWaiting(socket.SafeHandle, data);
        if (sent < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"send: {Errno.Describe(errno)}", errno);
        }

        return (int)sent;
    }

    public static void SendAll(Socket socket, ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            data = data[socket.Send(data)..];
        }
    }
}
