using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace BlkSnapFs.Fuse.Protocol;

/// <summary>
/// One FUSE connection: negotiates INIT, then runs worker threads that each read a request from
/// /dev/fuse into their own pinned buffer, call the <see cref="IRawFileSystem"/> and write the reply.
/// The loop ends when the kernel reports ENODEV (unmounted or aborted).
/// </summary>
public sealed unsafe partial class FuseSession
{
    /// <summary>The newest protocol minor version this binding speaks (linux/fuse.h 7.38).</summary>
    public const uint ProtocolMinorVersion = 38;

    /// <summary>Oldest minor version accepted: below it request layouts differ from the structs here.</summary>
    private const uint OldestMinorVersion = 23;

    [ThreadStatic]
    private static bool _isWorkerThread;

    private readonly int _mainFd;
    private readonly IRawFileSystem _fileSystem;
    private readonly FuseMountOptions _options;
    private readonly List<Worker> _workers = [];
    private readonly ConcurrentDictionary<ulong, DeferredReply> _deferred = new();
    private readonly Dictionary<ulong, long> _earlyInterrupts = [];
    private readonly Lock _interruptLock = new();
    private readonly ReaderWriterLockSlim _descriptorLock = new();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _runningWorkers;
    private int _shuttingDown;
    private int _destroyed;
    private bool _closed;

    internal FuseSession(int deviceFd, IRawFileSystem fileSystem, FuseMountOptions options, FuseStatistics statistics)
    {
        _mainFd = deviceFd;
        _fileSystem = fileSystem;
        _options = options;
        Statistics = statistics;
    }

    public FuseStatistics Statistics { get; }

    /// <summary>The protocol minor version agreed with the kernel.</summary>
    public uint NegotiatedMinorVersion { get; private set; }

    /// <summary>Completes when every worker has stopped and the device is closed.</summary>
    public Task Completion => _completion.Task;

    /// <summary>True on the session's worker threads, where a notification that waits for the kernel could deadlock.</summary>
    public static bool IsWorkerThread => _isWorkerThread;

    internal bool IsShuttingDown => Volatile.Read(ref _shuttingDown) != 0;

    /// <summary>The /dev/fuse descriptor of the connection (the one INIT came on).</summary>
    internal int DeviceFd => _mainFd;

    /// <summary>Answers INIT on the calling thread, then starts the workers.</summary>
    internal void Start()
    {
        var first = new WorkerBuffers(_options.MaxTransferSize);
        try
        {
            Negotiate(first);
        }
        catch
        {
            first.Dispose();
            throw;
        }

        StartWorkers(first);
    }

    /// <summary>
    /// Takes over a connection another process negotiated (and perhaps died serving): no INIT, then
    /// the workers, then a resend of what the old process had read and not answered. Returns 0, or
    /// the positive errno of the resend (EINVAL: the kernel cannot resend).
    /// </summary>
    internal int Resume(uint negotiatedMinorVersion)
    {
        NegotiatedMinorVersion = negotiatedMinorVersion;
        StartWorkers(new WorkerBuffers(_options.MaxTransferSize));
        return NotifyResend();
    }

    private void StartWorkers(WorkerBuffers first)
    {
        _fileSystem.Initialized(this);
        var count = Math.Max(1, _options.WorkerCount);
        for (var index = 0; index < count; index++)
        {
            var fd = index == 0 ? _mainFd : CloneDevice();
            var buffers = index == 0 ? first : new WorkerBuffers(_options.MaxTransferSize);
            _workers.Add(new Worker(fd, buffers, new RequestContext(this, fd)));
        }

        ReportUnlockedBuffers();

        _runningWorkers = _workers.Count;
        for (var index = 0; index < _workers.Count; index++)
        {
            var worker = _workers[index];
            var thread = new Thread(() => RunWorker(worker)) { IsBackground = true, Name = $"fuse-worker-{index}" };
            thread.Start();
        }
    }

    private void ReportUnlockedBuffers()
    {
        var refused = _workers.Where(w => !w.Buffers.RequestBufferLocked).ToList();
        if (refused.Count > 0)
            _options.RequestBuffersNotLocked?.Invoke(new RequestBuffersNotLocked(refused.Count, _workers.Count, refused[0].Buffers.LockErrno));
    }

    /// <summary>Answers every parked request with ENOTCONN and refuses new ones; the loop keeps serving until the kernel lets go.</summary>
    internal void BeginShutdown()
    {
        Volatile.Write(ref _shuttingDown, 1);
        foreach (var reply in _deferred.Values)
        {
            reply.Cancel(Errno.ENOTCONN);
        }
    }

    private int CloneDevice()
    {
        if (!_options.CloneDevicePerWorker)
        {
            return _mainFd;
        }

        var fd = FileCalls.open("/dev/fuse", FileCalls.O_RDWR | FileCalls.O_CLOEXEC, 0);
        if (fd < 0)
        {
            return _mainFd;
        }

        var session = (uint)_mainFd;
        if (DeviceControl.ioctl(fd, DeviceControl.FUSE_DEV_IOC_CLONE, &session) != 0)
        {
            FileCalls.close(fd);
            return _mainFd;
        }

        return fd;
    }

    private void Negotiate(WorkerBuffers buffers)
    {
        while (true)
        {
            var length = ReadRequest(_mainFd, buffers);
            if (length < 0)
            {
                throw new IOException($"reading FUSE_INIT failed: errno {-length}");
            }

            Statistics.RequestStarted();
            Statistics.RequestFinished();
            var message = new RequestBodyReader(new ReadOnlySpan<byte>(buffers.Request, length));
            if (!message.TryRead(out RequestHeader header))
            {
                continue;
            }

            if (header.Opcode != FuseOpcode.Init)
            {
                SendError(_mainFd, buffers, header.Unique, Errno.EIO);
                continue;
            }

            if (!message.TryReadCompatible(InitIn.CompatibleSize, out InitIn request))
            {
                SendError(_mainFd, buffers, header.Unique, Errno.EIO);
                throw new IOException($"FUSE_INIT of {length} bytes is too short");
            }

            if (request.Major > 7)
            {
                // The kernel retries INIT with the major version we name.
                var older = new InitOut { Major = 7, Minor = ProtocolMinorVersion };
                SendStruct(_mainFd, buffers, header.Unique, older);
                continue;
            }

            if (request.Major < 7 || request.Minor < OldestMinorVersion)
            {
                SendError(_mainFd, buffers, header.Unique, Errno.EPROTO);
                throw new IOException($"kernel FUSE protocol {request.Major}.{request.Minor} is too old");
            }

            const InitFlags Wanted = InitFlags.AsyncRead | InitFlags.BigWrites | InitFlags.AsyncDirectIo
                | InitFlags.ParallelDirectoryOps | InitFlags.MaxPages;
            NegotiatedMinorVersion = Math.Min(request.Minor, ProtocolMinorVersion);
            var reply = new InitOut
            {
                Major = 7,
                Minor = NegotiatedMinorVersion,
                MaxReadahead = Math.Min(request.MaxReadahead, (uint)_options.MaxReadahead),
                Flags = request.Flags & Wanted,
                MaxBackground = 64,
                CongestionThreshold = 48,
                MaxWrite = (uint)_options.MaxTransferSize,
                TimeGranularity = 1,
                MaxPages = (ushort)(_options.MaxTransferSize / Environment.SystemPageSize),
            };
            SendStruct(_mainFd, buffers, header.Unique, reply);
            return;
        }
    }

    private void RunWorker(Worker worker)
    {
        _isWorkerThread = true;
        try
        {
            while (true)
            {
                var length = ReadRequest(worker.Fd, worker.Buffers);
                if (length < 0)
                {
                    // ENODEV: unmounted or aborted. Anything else is equally fatal for this descriptor.
                    break;
                }

                Dispatch(worker, length);
            }
        }
        finally
        {
            if (Interlocked.Decrement(ref _runningWorkers) == 0)
            {
                Finish();
            }
        }
    }

    /// <summary>Reads one request; the length, or a negated errno once the connection is gone.</summary>
    private static int ReadRequest(int fd, WorkerBuffers buffers)
    {
        while (true)
        {
            var length = FileCalls.read(fd, buffers.Request, (nuint)buffers.RequestCapacity);
            if (length > 0)
            {
                return (int)length;
            }

            if (length == 0)
            {
                // End of file: /dev/fuse reports ENODEV instead, but a socket standing in for it ends so.
                return -Errno.ENODEV;
            }

            var error = Marshal.GetLastPInvokeError();
            // EINTR: signal; EAGAIN: spurious wakeup; ENOENT: the request was interrupted before we got it.
            if (error is not (Errno.EINTR or Errno.EAGAIN or Errno.ENOENT))
            {
                return -error;
            }
        }
    }

    private void Finish()
    {
        BeginShutdown();
        if (Interlocked.Exchange(ref _destroyed, 1) == 0)
        {
            _fileSystem.Destroy();
        }

        _descriptorLock.EnterWriteLock();
        try
        {
            _closed = true;
            foreach (var fd in _workers.Select(worker => worker.Fd).Append(_mainFd).Distinct())
            {
                FileCalls.close(fd);
            }
        }
        finally
        {
            _descriptorLock.ExitWriteLock();
        }

        foreach (var worker in _workers)
        {
            worker.Buffers.Dispose();
        }

        _completion.TrySetResult();
    }

    private sealed class Worker(int fd, WorkerBuffers buffers, RequestContext context)
    {
        public int Fd { get; } = fd;

        public WorkerBuffers Buffers { get; } = buffers;

        public RequestContext Context { get; } = context;
    }
}
