using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Core;

/// <summary>A device's change tracking as read back from its state file.</summary>
internal sealed record SavedTracking(Guid GenerationId, int ActiveNumber, int PreviousNumber, byte[] Active, byte[] Frozen, bool Clean);

/// <summary>
/// A device's change tracking kept on disk, so that a restart or a crash of the daemon continues
/// its generation instead of forcing a full backup of the device.
/// <code>
/// offset  size  field
///      0     8  magic "BSFSCBT1"
///      8     4  version (1)
///     12     4  state: 1 clean (written whole at a clean stop), 2 running
///     16     8  capacity in bytes
///     24     4  tracking block shift
///     28     4  tracking block count (n)
///     32    16  generation id
///     48     4  active number (the number writes are marked with)
///     52     4  previous number (changes_number)
///     56    32  SHA-256 of the header with this field zeroed, then, when clean, of both maps
///     88     2  identity length, then the identity in UTF-8 (path, newline, stable id)
///   4096     n  active map
///   4096+n   n  frozen map
/// </code>
/// While running, the active map on disk is kept ahead of the one in memory, write-ahead as
/// dm-era does: before the first write to a tracking block since the last checkpoint is
/// acknowledged, the aligned group of <see cref="GroupBlocks"/> blocks around it is written with
/// the active number and made durable, one fdatasync for all the writers waiting at that moment.
/// So after a crash the map may over-report (at most a group for each group written) and never
/// under-reports. Checkpoints (attach, take, clean stop) write a whole new file and rename it over
/// the old one, so a checkpoint torn by a crash leaves the previous one.
/// </summary>
internal sealed class TrackingStateFile : IDisposable
{
    public const int HeaderSize = 4096;

    /// <summary>
    /// Blocks marked together: 64 blocks is 4 MiB at the 64 KiB default, so sequential 1 MiB
    /// writes pay one fdatasync per four, and a crash over-reports at most 4 MiB per 4 MiB written to.
    /// </summary>
    public const int GroupShift = 6;
    public const int GroupBlocks = 1 << GroupShift;

    private const ulong Magic = 0x3154424353465342; // "BSFSCBT1" little-endian
    private const int Version = 1;
    private const int StateClean = 1;
    private const int StateRunning = 2;
    private const int HashOffset = 56;
    private const int IdentityOffset = 88;

    private readonly string _path;
    private readonly Action<string> _failed;
    private readonly string _identity;
    private readonly long _capacity;
    private readonly int _blockShift;
    private readonly int _blockCount;
    private readonly Lock _markLock = new();
    private readonly Lock _syncLock = new();
    private readonly byte[] _groupNumber;
    private readonly long[] _groupTicket;
    private SafeFileHandle? _file;
    private long _written;
    private long _synced;

    public TrackingStateFile(string path, string identity, long capacity, int blockShift, int blockCount, Action<string> failed)
    {
        _failed = failed;
        _path = path;
        _identity = identity;
        _capacity = capacity;
        _blockShift = blockShift;
        _blockCount = blockCount;
        var groups = (blockCount + GroupBlocks - 1) >> GroupShift;
        _groupNumber = new byte[groups];
        _groupTicket = new long[groups];
    }

    public string Path => _path;

    /// <summary>Why the file was given up (and removed), so that a restart starts a new generation; null while it is kept.</summary>
    public string? FailureReason { get; private set; }

    /// <summary>
    /// Marks blocks <paramref name="first"/>..<paramref name="last"/> changed with <paramref name="number"/>
    /// on disk, durably, unless they already are. Called before the write is acknowledged.
    /// </summary>
    public void MarkAhead(int first, int last, byte number)
    {
        long needed = 0;
        for (var g = first >> GroupShift; g <= last >> GroupShift; g++)
        {
            if (Volatile.Read(ref _groupNumber[g]) != number)
            {
                lock (_markLock)
                {
                    if (_groupNumber[g] != number && _file is { } file && !TryWriteGroup(file, g, number))
                        return;
                }
            }
            needed = Math.Max(needed, Volatile.Read(ref _groupTicket[g]));
        }
        if (needed > Volatile.Read(ref _synced))
            SyncThrough(needed);
    }

    private bool TryWriteGroup(SafeFileHandle file, int group, byte number)
    {
        var start = group << GroupShift;
        var count = Math.Min(GroupBlocks, _blockCount - start);
        Span<byte> marks = stackalloc byte[GroupBlocks];
        marks.Fill(number);
        try
        {
            RandomAccess.Write(file, marks[..count], HeaderSize + start);
        }
        catch (IOException e)
        {
            GiveUp(e);
            return false;
        }
        _groupTicket[group] = ++_written;
        Volatile.Write(ref _groupNumber[group], number);
        return true;
    }

    /// <summary>Writes exact map bytes in place (a change that raised the frozen map too), durably.</summary>
    public void WriteExact(int first, ReadOnlySpan<byte> active, ReadOnlySpan<byte> frozen)
    {
        long ticket;
        lock (_markLock)
        {
            if (_file is not { } file)
                return;
            try
            {
                RandomAccess.Write(file, active, HeaderSize + first);
                RandomAccess.Write(file, frozen, HeaderSize + (long)_blockCount + first);
            }
            catch (IOException e)
            {
                GiveUp(e);
                return;
            }
            ticket = ++_written;
        }
        SyncThrough(ticket);
    }

    /// <summary>Group commit: one fdatasync makes every write ticketed before it durable.</summary>
    private void SyncThrough(long ticket)
    {
        lock (_syncLock)
        {
            if (Volatile.Read(ref _synced) >= ticket)
                return;
            long target;
            SafeFileHandle? file;
            lock (_markLock)
                (target, file) = (_written, _file);
            if (file is null)
                return;
            try
            {
                Native.Sync(file, _path);
            }
            catch (BlkSnapException e)
            {
                lock (_markLock)
                    GiveUp(e);
                return;
            }
            Volatile.Write(ref _synced, target);
        }
    }

    /// <summary>Writes the whole state to a new file and renames it over the old one.</summary>
    public void Checkpoint(Guid generation, int activeNumber, int previousNumber, ReadOnlySpan<byte> active, ReadOnlySpan<byte> frozen, bool clean)
    {
        lock (_syncLock)
        {
            lock (_markLock)
            {
                if (FailureReason is not null)
                    return;
                // Writes run meanwhile. Every group is to be marked again, in the new file: cleared before the
                // maps are copied, so a write whose byte the copy missed finds its group unmarked and waits here.
                Array.Clear(_groupNumber);
                Interlocked.MemoryBarrier();
                var image = new byte[HeaderSize + 2L * _blockCount];
                var header = image.AsSpan(0, HeaderSize);
                BinaryPrimitives.WriteUInt64LittleEndian(header, Magic);
                BinaryPrimitives.WriteInt32LittleEndian(header[8..], Version);
                BinaryPrimitives.WriteInt32LittleEndian(header[12..], clean ? StateClean : StateRunning);
                active.CopyTo(image.AsSpan(HeaderSize));
                frozen.CopyTo(image.AsSpan(HeaderSize + _blockCount));
                WriteFacts(header, generation, activeNumber, previousNumber);
                Hash(image, clean).CopyTo(header[HashOffset..]);
                var temporary = _path + ".new";
                try
                {
                    using (var stream = new FileStream(temporary, new FileStreamOptions
                    {
                        Mode = FileMode.Create,
                        Access = FileAccess.Write,
                        UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                    }))
                    {
                        RandomAccess.Write(stream.SafeFileHandle, image, 0);
                        Native.Sync(stream.SafeFileHandle, temporary);
                    }
                    File.Move(temporary, _path, overwrite: true);
                    SyncDirectory();
                    _file?.Dispose();
                    _file = File.OpenHandle(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, FileOptions.None);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    GiveUp(e);
                    TryDelete(temporary);
                    return;
                }
            }
        }
    }

    private void WriteFacts(Span<byte> header, Guid generation, int activeNumber, int previousNumber)
    {
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], _capacity);
        BinaryPrimitives.WriteInt32LittleEndian(header[24..], _blockShift);
        BinaryPrimitives.WriteInt32LittleEndian(header[28..], _blockCount);
        generation.TryWriteBytes(header[32..48]);
        BinaryPrimitives.WriteInt32LittleEndian(header[48..], activeNumber);
        BinaryPrimitives.WriteInt32LittleEndian(header[52..], previousNumber);
        var identity = Encoding.UTF8.GetBytes(_identity);
        BinaryPrimitives.WriteUInt16LittleEndian(header[IdentityOffset..], (ushort)identity.Length);
        identity.CopyTo(header[(IdentityOffset + 2)..]);
    }

    private void SyncDirectory()
    {
        var directory = System.IO.Path.GetDirectoryName(_path)!;
        using var handle = Native.OpenRaw(directory, FileCalls.O_DIRECTORY, $"state directory {directory}");
        Native.Sync(handle, directory);
    }

    private static byte[] Hash(byte[] image, bool clean)
    {
        var header = image.AsSpan(0, HeaderSize).ToArray();
        header.AsSpan(HashOffset, 32).Clear();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(header);
        if (clean)
            sha.AppendData(image, HeaderSize, image.Length - HeaderSize);
        return sha.GetHashAndReset();
    }

    /// <summary>Stops keeping the state and removes it, so that nothing stale can be loaded later. Called under the mark lock.</summary>
    private void GiveUp(Exception e)
    {
        if (FailureReason is not null)
            return;
        FailureReason = $"{_path}: {e.Message} ({Errno.Name(Errno.Of(e))}); tracking continues in memory only";
        _file?.Dispose();
        _file = null;
        if (TryDelete(_path) is { } failure)
            FailureReason += $"; removing it failed too: {failure}";
        _failed(FailureReason);
    }

    private static string? TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
    }

    /// <summary>Detach: tracking ends, and so does its state.</summary>
    public void Delete()
    {
        lock (_markLock)
        {
            _file?.Dispose();
            _file = null;
            File.Delete(_path);
        }
    }

    public void Dispose()
    {
        lock (_markLock)
        {
            _file?.Dispose();
            _file = null;
        }
    }

    /// <summary>
    /// Reads a saved state when it can be trusted; null otherwise, with <paramref name="note"/> saying
    /// why. A state that cannot be trusted is moved aside to PATH.rejected, never loaded.
    /// </summary>
    public static SavedTracking? Load(string path, string identity, long capacity, int blockShift, int blockCount, out TrackingStart start, out string note)
    {
        byte[] image;
        start = TrackingStart.Rejected;
        try
        {
            image = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException)
        {
            start = TrackingStart.New;
            note = "no saved tracking state: a new generation";
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            note = Reject(path, $"cannot be read: {e.Message}");
            return null;
        }
        var problem = Check(image, identity, capacity, blockShift, blockCount, out var saved);
        if (problem is not null)
        {
            note = Reject(path, problem);
            return null;
        }
        start = saved!.Clean ? TrackingStart.RestoredClean : TrackingStart.RestoredAfterCrash;
        note = saved.Clean
            ? $"tracking state restored after a clean stop: generation {saved.GenerationId}, changes_number {saved.PreviousNumber}"
            : $"tracking state restored after a crash: generation {saved.GenerationId}, changes_number {saved.PreviousNumber}; blocks near those written may be reported changed too";
        return saved;
    }

    private static string Reject(string path, string problem)
    {
        var aside = path + ".rejected";
        try
        {
            File.Move(path, aside, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            aside = $"(not moved aside: {e.Message})";
        }
        return $"saved tracking state {path} not used, a new generation starts: {problem}; kept as {aside}";
    }

    private static string? Check(byte[] image, string identity, long capacity, int blockShift, int blockCount, out SavedTracking? saved)
    {
        saved = null;
        if (image.Length < HeaderSize || BinaryPrimitives.ReadUInt64LittleEndian(image) != Magic)
            return "not a tracking state file";
        var header = image.AsSpan(0, HeaderSize);
        if (BinaryPrimitives.ReadInt32LittleEndian(header[8..]) is var version && version != Version)
            return $"version {version} is not {Version}";
        var state = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        if (state is not (StateClean or StateRunning))
            return $"unknown state {state}";
        var count = BinaryPrimitives.ReadInt32LittleEndian(header[28..]);
        if (count < 0 || image.Length != HeaderSize + 2L * count)
            return $"the file is {image.Length} bytes, not the {HeaderSize + 2L * Math.Max(count, 0)} its header says (torn or truncated)";
        if (!Hash(image, state == StateClean).AsSpan().SequenceEqual(header.Slice(HashOffset, 32)))
            return "bad checksum";
        var length = BinaryPrimitives.ReadUInt16LittleEndian(header[IdentityOffset..]);
        var savedIdentity = length <= HeaderSize - IdentityOffset - 2 ? Encoding.UTF8.GetString(header.Slice(IdentityOffset + 2, length)) : "";
        if (savedIdentity != identity)
            return $"it belongs to another device ('{savedIdentity.ReplaceLineEndings(" ")}', this is '{identity.ReplaceLineEndings(" ")}')";
        var savedCapacity = BinaryPrimitives.ReadInt64LittleEndian(header[16..]);
        if (savedCapacity != capacity)
            return $"the capacity changed from {savedCapacity} to {capacity} bytes";
        var savedShift = BinaryPrimitives.ReadInt32LittleEndian(header[24..]);
        if (savedShift != blockShift || count != blockCount)
            return $"the tracking block size changed from {1L << savedShift} to {1L << blockShift} bytes";
        var activeNumber = BinaryPrimitives.ReadInt32LittleEndian(header[48..]);
        var previousNumber = BinaryPrimitives.ReadInt32LittleEndian(header[52..]);
        // Each take moves both on by one; the take that wraps leaves active 1 over previous 255.
        if (activeNumber is < 1 or > byte.MaxValue || (previousNumber != activeNumber - 1 && !(activeNumber == 1 && previousNumber == byte.MaxValue)))
            return $"numbers {activeNumber}/{previousNumber} are out of range";
        var active = image.AsSpan(HeaderSize, count).ToArray();
        var frozen = image.AsSpan(HeaderSize + count, count).ToArray();
        // A running state's maps are not in its checksum (they change in place); a value no write could have left there gives it away.
        if ((activeNumber < byte.MaxValue && active.AsSpan().IndexOfAnyInRange((byte)(activeNumber + 1), byte.MaxValue) >= 0) ||
            (previousNumber < byte.MaxValue && frozen.AsSpan().IndexOfAnyInRange((byte)(previousNumber + 1), byte.MaxValue) >= 0))
        {
            return "the map holds numbers past the active one";
        }

        saved = new SavedTracking(new Guid(header[32..48]), activeNumber, previousNumber, active, frozen, state == StateClean);
        return null;
    }
}
