using System.Net.Sockets;

namespace BlkSnapFs.Nbd;

/// <summary>
/// A plaintext connection's requests, read through one buffer: each recv takes whatever the client has
/// sent so far, up to the buffer's size, so that with several requests in flight one recv brings several
/// headers and payloads, where a header and a payload read each on its own took two recvs per write.
/// A payload as long as the buffer or longer goes from the socket straight into its own buffer, after
/// what of it is here already.
/// </summary>
internal sealed class ReceiveBuffer(Socket socket, int capacity)
{
    private readonly byte[] _bytes = GC.AllocateUninitializedArray<byte>(capacity);
    private int _start;
    private int _end;

    /// <summary>The recvs made so far, for the tests; a long payload received straight into its own buffer counts as one.</summary>
    public long Receives { get; private set; }

    /// <summary>Fills <paramref name="destination"/>; false if the peer closed before sending any of it.</summary>
    public bool TryReceiveExactly(Span<byte> destination)
    {
        if (_start == _end && !Fill())
        {
            return false;
        }

        ReceiveExactly(destination);
        return true;
    }

    public void ReceiveExactly(Span<byte> destination)
    {
        while (true)
        {
            var taken = Math.Min(destination.Length, _end - _start);
            _bytes.AsSpan(_start, taken).CopyTo(destination);
            _start += taken;
            destination = destination[taken..];
            if (destination.IsEmpty)
            {
                return;
            }

            if (destination.Length >= _bytes.Length)
            {
                Receives++;
                SocketTransfer.ReceiveExactly(socket, destination);
                return;
            }

            if (!Fill())
            {
                throw SocketTransfer.ClosedMidMessage();
            }
        }
    }

    /// <summary>With the buffer empty: one recv of what the client has sent; false if it closed.</summary>
    private bool Fill()
    {
        Receives++;
        _start = 0;
        _end = socket.Receive(_bytes);
        return _end > 0;
    }
}
