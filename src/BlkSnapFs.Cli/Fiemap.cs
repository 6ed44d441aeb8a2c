using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace BlkSnapFs.Cli;

/// <summary>Where a file's data lies on the block device that holds it, from the FS_IOC_FIEMAP ioctl.</summary>
internal static class Fiemap
{
    private const uint FIEMAP_FLAG_SYNC = 0x1;
    private const uint FIEMAP_EXTENT_LAST = 0x1;

    // Extents whose physical address is not (yet) a real place on the device.
    private const uint FIEMAP_EXTENT_UNKNOWN = 0x2;
    private const uint FIEMAP_EXTENT_DELALLOC = 0x4;
    private const uint FIEMAP_EXTENT_DATA_INLINE = 0x200;
    private const uint UnlocatedExtentFlags = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_DATA_INLINE;

    private const int ExtentsPerCall = 512;

    [StructLayout(LayoutKind.Sequential)]
    private struct FiemapHeader
    {
        public ulong Start;
        public ulong Length;
        public uint Flags;
        public uint MappedExtents;
        public uint ExtentCount;
        public uint Reserved;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct FiemapExtent
    {
        public ulong Logical;
        public ulong Physical;
        public ulong Length;
        public ulong Reserved64A;
        public ulong Reserved64B;
        public uint Flags;
        public uint Reserved32A;
        public uint Reserved32B;
        public uint Reserved32C;
    }

    /// <summary>The file's extents as 512-byte sector ranges of its device, and that device as /dev/block/MAJOR:MINOR.</summary>
    public static unsafe (string DevicePath, List<SectorRange> Ranges) Map(string path)
    {
        using var file = Open(path);

        FileStatus.StatxBuffer status;
        if (FileStatus.statx(file, "", FileStatus.AT_EMPTY_PATH, FileStatus.STATX_SIZE, &status) != 0)
        {
            throw new CliException(CliException.Describe(Marshal.GetLastPInvokeError(), $"statx {path}"));
        }

        var ranges = new List<SectorRange>();
        var bufferSize = sizeof(FiemapHeader) + (ExtentsPerCall * sizeof(FiemapExtent));
        var buffer = (byte*)NativeMemory.AllocZeroed((nuint)bufferSize);
        try
        {
            var header = (FiemapHeader*)buffer;
            var extents = (FiemapExtent*)(buffer + sizeof(FiemapHeader));
            ulong offset = 0;
            var last = false;
            while (!last && offset < status.Size)
            {
                *header = new FiemapHeader
                {
                    Start = offset,
                    Length = status.Size - offset,
                    Flags = FIEMAP_FLAG_SYNC,
                    ExtentCount = ExtentsPerCall,
                };
                if (DeviceControl.ioctl(file, DeviceControl.FS_IOC_FIEMAP, buffer) != 0)
                {
                    throw new CliException(CliException.Describe(Marshal.GetLastPInvokeError(), $"FIEMAP on {path}"));
                }

                if (header->MappedExtents == 0)
                {
                    break;
                }

                for (var i = 0; i < header->MappedExtents; i++)
                {
                    var extent = extents[i];
                    if ((extent.Flags & UnlocatedExtentFlags) != 0 || (extent.Physical & ((1UL << SectorRange.SectorShift) - 1)) != 0)
                    {
                        throw new CliException(CliException.Describe(Errno.EINVAL, $"{path} has an extent that is not at a sector of its device"));
                    }

                    var sectors = (extent.Length + (1UL << SectorRange.SectorShift) - 1) >> SectorRange.SectorShift;
                    ranges.Add(new SectorRange(extent.Physical >> SectorRange.SectorShift, sectors));
                    offset = extent.Logical + extent.Length;
                    last |= (extent.Flags & FIEMAP_EXTENT_LAST) != 0;
                }
            }
        }
        finally
        {
            NativeMemory.Free(buffer);
        }

        return ($"/dev/block/{status.DeviceMajor}:{status.DeviceMinor}", ranges);
    }

    private static SafeFileHandle Open(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw CliException.FromFileError(ex, path);
        }
    }
}
