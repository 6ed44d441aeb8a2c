namespace BlkSnapFs.Fuse.Protocol;

/// <summary>Requests answered later (parked reads) and the INTERRUPTs that cancel them.</summary>
public sealed unsafe partial class FuseSession
{
    /// <summary>Interrupts for requests not (yet) parked are remembered this long, in case the park comes after.</summary>
    private const long EarlyInterruptLifetimeMilliseconds = 10_000;

    internal DeferredReply RegisterDeferred(int deviceFd, ulong unique)
    {
        var reply = new DeferredReply(this, deviceFd, unique);
        bool interruptedAlready;
        lock (_interruptLock)
        {
            _deferred[unique] = reply;
            interruptedAlready = _earlyInterrupts.Remove(unique);
        }

        Statistics.Parked();
        if (interruptedAlready)
        {
            reply.Cancel(Errno.EINTR);
        }
        else if (IsShuttingDown)
        {
            reply.Cancel(Errno.ENOTCONN);
        }

        return reply;
    }

    internal void UnregisterDeferred(ulong unique)
    {
        if (_deferred.TryRemove(unique, out _))
        {
            Statistics.Unparked();
        }
    }

    /// <summary>Sends a deferred answer on the descriptor its request came from, unless the session has closed it.</summary>
    internal bool SendDeferred(int deviceFd, ulong unique, int error, ReadOnlySpan<byte> data)
    {
        var header = new ReplyHeader { Length = (uint)(sizeof(ReplyHeader) + data.Length), Error = error, Unique = unique };
        _descriptorLock.EnterReadLock();
        try
        {
            if (_closed)
            {
                return false;
            }

            fixed (byte* payload = data)
            {
                var vectors = stackalloc FileCalls.IoVector[2];
                vectors[0] = new FileCalls.IoVector { Base = &header, Length = (nuint)sizeof(ReplyHeader) };
                vectors[1] = new FileCalls.IoVector { Base = payload, Length = (nuint)data.Length };
                return FileCalls.writev(deviceFd, vectors, data.IsEmpty ? 1 : 2) >= 0;
            }
        }
        finally
        {
            _descriptorLock.ExitReadLock();
        }
    }

    /// <summary>
    /// The kernel gave up waiting for <paramref name="unique"/> (the caller got a signal). A parked request is
    /// answered EINTR at once; one still running on a worker finishes normally; one not parked yet is remembered.
    /// </summary>
    private void OnInterrupt(ulong unique)
    {
        Statistics.InterruptReceived();
        DeferredReply? parked;
        lock (_interruptLock)
        {
            if (!_deferred.TryGetValue(unique, out parked))
            {
                var now = Environment.TickCount64;
                if (_earlyInterrupts.Count >= 64)
                {
                    foreach (var stale in _earlyInterrupts.Where(entry => now - entry.Value > EarlyInterruptLifetimeMilliseconds).Select(entry => entry.Key).ToList())
                    {
                        _earlyInterrupts.Remove(stale);
                    }
                }

                _earlyInterrupts[unique] = now;
            }
        }

        parked?.Cancel(Errno.EINTR);
    }
}
