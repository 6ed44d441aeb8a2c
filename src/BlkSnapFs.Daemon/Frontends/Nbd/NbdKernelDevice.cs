using System.Net.Sockets;
using BlkSnapFs.Core;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// A kernel /dev/nbdN connected to one of the daemon's Unix-socket exports over netlink, with a
/// request timeout and a dead-connection timeout: when the serving process goes away, I/O waits that
/// long for a successor to give the device a new socket (<see cref="Reconnect"/>), and fails only if
/// none comes, so a vanished daemon never hangs I/O for ever. Requests that were in flight on the
/// dead socket go to the new one when their request timeout expires (the kernel requeues them then),
/// so Nbd:TimeoutSeconds bounds the stall of a takeover. The kernel also drops a live connection
/// when one request outlasts that timeout (a stalled disk, a stopped process); <see cref="WatchConnection"/>
/// sees it, and the daemon gives the device a new socket before the dead-connection timeout fails its I/O.
/// </summary>
internal sealed class NbdKernelDevice
{
    /// <summary>How long a new socket waits for the kernel to finish marking the old one dead (it answers ENOSPC until then).</summary>
    private static readonly TimeSpan ReconfigureWait = TimeSpan.FromSeconds(2);

    private readonly Socket _socket;
    private volatile bool _closing;

    private NbdKernelDevice(int index, Socket socket)
    {
        Index = index;
        _socket = socket;
    }

    public int Index { get; }
    public string Path => $"/dev/nbd{Index}";

    /// <summary>Connects <paramref name="requested"/> (a path, or "auto" for the first free one).</summary>
    public static NbdKernelDevice Connect(string socketPath, string requested, int timeoutSeconds, int reconnectTimeoutSeconds, int blockSize)
    {
        RequireDriver();
        var index = requested == "auto" ? -1 : IndexOf(requested);
        if (index >= 0 && !IsFree(index))
            throw new BlkSnapException(Errno.EBUSY, $"{requested} is already connected");
        var socket = Handshaken(socketPath, out var size, out var flags);
        try
        {
            index = NbdNetlink.Connect(index, size, blockSize, flags, timeoutSeconds, reconnectTimeoutSeconds, (int)socket.Handle);
            return new NbdKernelDevice(index, socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Gives /dev/nbdN, connected by a serving process that died, a socket to this one's export. False when the
    /// device is not connected (any more): the caller connects it anew.
    /// </summary>
    public static NbdKernelDevice? Reconnect(string socketPath, string path)
    {
        RequireDriver();
        var index = IndexOf(path);
        if (IsFree(index))
            return null;
        var socket = Handshaken(socketPath, out _, out _);
        try
        {
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    NbdNetlink.Reconfigure(index, (int)socket.Handle);
                    return new NbdKernelDevice(index, socket);
                }
                catch (BlkSnapException e) when (e.Errno == Errno.ENOSPC && waited.Elapsed < ReconfigureWait)
                {
                    Thread.Sleep(20);
                }
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Calls <paramref name="dropped"/> once, on a thread of its own, when the kernel shuts this connection
    /// down while the device stays connected: a request outlasted Nbd:TimeoutSeconds, or the export's end
    /// closed. A disconnect or <see cref="Abandon"/> of ours ends the watch without a call.
    /// </summary>
    public void WatchConnection(Action dropped)
    {
        var thread = new Thread(() =>
        {
            if (WaitForHangUp() && !_closing)
                dropped();
        })
        { IsBackground = true, Name = $"nbd{Index} connection" };
        thread.Start();
    }

    /// <summary>True on a hang-up; false once we close the connection ourselves. Polls a second at a time to notice that.</summary>
    private bool WaitForHangUp()
    {
        while (!_closing)
        {
            if (FileCalls.HungUp(_socket.SafeHandle, 1000))
                return true;
        }
        return false;
    }

    /// <summary>Lets go of a connection the kernel has given up on (the device has a new one); the device stays.</summary>
    public void Abandon()
    {
        _closing = true;
        _socket.Dispose();
    }

    /// <summary>The kernel keeps its own reference to the socket; ours goes once the device is disconnected.</summary>
    public void Disconnect()
    {
        _closing = true;
        try
        {
            NbdNetlink.Disconnect(Index);
        }
        finally
        {
            _socket.Dispose();
        }
    }

    /// <summary>major:minor of the connected device, to name it in a device-mapper table by number.</summary>
    public string DeviceNumber => File.ReadAllText($"/sys/block/nbd{Index}/dev").Trim();

    private static Socket Handshaken(string socketPath, out long size, out ushort flags)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            (size, flags) = Nbd.NbdClientHandshake.Go(socket);
            return socket;
        }
        catch (Nbd.NbdException e)
        {
            socket.Dispose();
            throw new BlkSnapException(e.Errno, $"export {socketPath}: {e.Message}");
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new BlkSnapException(e.ErrorCode is > 0 ? e.ErrorCode : Errno.EIO, $"export {socketPath}: {e.Message}");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static void RequireDriver()
    {
        if (!Directory.Exists("/sys/module/nbd"))
            throw new BlkSnapException(Errno.ENODEV, "the kernel nbd driver is not loaded (modprobe nbd)");
    }

    private static int IndexOf(string path)
    {
        var name = System.IO.Path.GetFileName(path);
        if (!name.StartsWith("nbd", StringComparison.Ordinal) || !int.TryParse(name.AsSpan(3), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
            || !Directory.Exists($"/sys/block/{name}"))
        {
            throw new BlkSnapException(Errno.ENODEV, $"{path} is not an nbd device");
        }

        return index;
    }

    /// <summary>A device with no size is not connected (a connected one whose server died keeps its size).</summary>
    private static bool IsFree(int index) => File.ReadAllText($"/sys/block/nbd{index}/size").Trim() == "0";
}
