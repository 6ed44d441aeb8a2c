namespace BlkSnapFs.Nbd.Tests;

/// <summary>An in-memory backend relying on the interface defaults, with injectable failures.</summary>
public sealed class MemoryBackend(int size) : INbdExportBackend
{
    private readonly byte[] _data = new byte[size];

    public long Size => _data.Length;

    public NbdExportCapabilities Capabilities => NbdExportCapabilities.Flush | NbdExportCapabilities.WriteZeroes;

    public NbdBlockSizeConstraints BlockSizes { get; init; } = NbdBlockSizeConstraints.Default;

    /// <summary>Thrown by every write and flush while set.</summary>
    public Exception? Failure { get; set; }

    public void Read(long offset, Span<byte> buffer) => _data.AsSpan((int)offset, buffer.Length).CopyTo(buffer);

    /// <summary>Reset, every write waits for it to be set again.</summary>
    public ManualResetEventSlim WritesMayRun { get; } = new(true);

    /// <summary>Writes begun and not yet finished.</summary>
    public int WritesRunning => Volatile.Read(ref _writesRunning);

    private int _writesRunning;

    public void Write(long offset, ReadOnlySpan<byte> data, bool forceUnitAccess)
    {
        Interlocked.Increment(ref _writesRunning);
        try
        {
            WritesMayRun.Wait();
            WriteNow(offset, data);
        }
        finally
        {
            Interlocked.Decrement(ref _writesRunning);
        }
    }

    private void WriteNow(long offset, ReadOnlySpan<byte> data)
    {
        ThrowIfFailing();
        data.CopyTo(_data.AsSpan((int)offset));
    }

    public void Flush() => ThrowIfFailing();

    private void ThrowIfFailing()
    {
        if (Failure is not null)
        {
            throw Failure;
        }
    }
}
