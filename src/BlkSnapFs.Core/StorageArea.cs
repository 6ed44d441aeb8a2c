using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Core;

/// <summary>
/// One range of a file or block device given to a difference storage. A growable area is the
/// tail of a file the storage made itself and may extend by fallocate up to a limit.
/// </summary>
internal sealed class StorageArea : IDisposable
{
    private StorageArea(string description, SafeFileHandle handle, long start, long length, string? removeOnDispose)
    {
        Description = description;
        Handle = handle;
        Start = start;
        Length = length;
        RemoveOnDispose = removeOnDispose;
    }

    public string Description { get; }
    public SafeFileHandle Handle { get; }
    public long Start { get; }
    public long Length { get; set; }

    /// <summary>The path of a file this storage created, deleted when the storage goes.</summary>
    public string? RemoveOnDispose { get; }

    private bool _uncachedWorks = true; // until the kernel or the file system refuses RWF_DONTCACHE

    /// <summary>
    /// A file: created when missing (and removed at release), or an existing one; allocated to
    /// <paramref name="size"/> bytes when given, else its current length is used.
    /// </summary>
    public static StorageArea OpenFile(string path, long? size)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full))
            return OpenTemporary(full, size ?? 0);
        if (DeviceNumbers.IsBlockDevice(full))
            return OpenBlockRange(full, 0, size);
        var created = !File.Exists(full);
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(full, created ? FileMode.CreateNew : FileMode.Open, FileAccess.ReadWrite, FileShare.None,
                FileOptions.None);
        }
        catch (Exception e)
        {
            throw BlkSnapException.From(e, $"storage file {path}");
        }
        try
        {
            if (created)
                File.SetUnixFileMode(full, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var length = size ?? RandomAccess.GetLength(handle);
            if (length > 0)
                Native.Allocate(handle, 0, 0, length, full);
            return new StorageArea(full, handle, 0, length, created ? full : null);
        }
        catch
        {
            handle.Dispose();
            if (created)
                File.Delete(full);
            throw;
        }
    }

    /// <summary>An unlinked O_TMPFILE inside a directory: nothing is left behind whatever happens.</summary>
    public static StorageArea OpenTemporary(string directory, long size)
    {
        var handle = Native.OpenRaw(directory, FileCalls.O_TMPFILE | FileCalls.O_RDWR, $"temporary file in {directory}");
        try
        {
            if (size > 0)
                Native.Allocate(handle, 0, 0, size, $"temporary file in {directory}");
            return new StorageArea($"{directory} (unlinked temporary file)", handle, 0, size, null);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>A sector range of a block device (or of a file used as one).</summary>
    public static StorageArea OpenBlockRange(string path, long offset, long? length)
    {
        var device = FileBlockDevice.Open(path);
        var handle = device.Handle;
        var available = device.Capacity - offset;
        var size = length ?? available;
        if (offset < 0 || size <= 0 || size > available)
        {
            device.Dispose();
            throw new BlkSnapException(Errno.ERANGE, $"range {offset}+{size} is outside {path} ({device.Capacity} bytes)");
        }
        return new StorageArea($"{path} [{offset}, +{size})", handle, offset, size, null);
    }

    /// <summary>Extends a file area by fallocate; false when the file system has no room.</summary>
    public bool TryGrow(long bytes)
    {
        if (!Native.TryAllocate(Handle, 0, Start + Length, bytes))
            return false;
        Length += bytes;
        return true;
    }

    /// <summary>
    /// Writes at <paramref name="offset"/> inside the area; <paramref name="uncached"/> asks for
    /// RWF_DONTCACHE, used where the kernel and the file system offer it.
    /// </summary>
    public void Write(long offset, ReadOnlySpan<byte> data, bool uncached)
    {
        if (uncached && Volatile.Read(ref _uncachedWorks))
        {
            if (Native.TryWriteUncached(Handle, data, Start + offset, Description))
                return;
            Volatile.Write(ref _uncachedWorks, false);
        }
        RandomAccess.Write(Handle, data, Start + offset);
    }

    /// <summary>Reads at <paramref name="offset"/> inside the area, all of it or EIO.</summary>
    public void Read(long offset, Span<byte> buffer)
    {
        var position = Start + offset;
        while (!buffer.IsEmpty)
        {
            var n = RandomAccess.Read(Handle, buffer, position);
            if (n <= 0)
                throw new BlkSnapException(Errno.EIO, $"difference storage {Description} ended at {position}");
            buffer = buffer[n..];
            position += n;
        }
    }

    public void ReadAhead(long offset, long length) => Native.ReadAhead(Handle, Start + offset, length);

    public void DropCache(long offset, long length) => Native.DropCache(Handle, Start + offset, length);

    public void Dispose()
    {
        Handle.Dispose();
        if (RemoveOnDispose is not null)
            File.Delete(RemoveOnDispose);
    }
}
