namespace BlkSnapFs.Nbd;

/// <summary>A shared block of zeroes for emulating zero writes with plain writes.</summary>
internal static class ZeroBuffer
{
    private static readonly byte[] Block = new byte[1024 * 1024];

    public static void WriteZeroes(INbdExportBackend backend, long offset, long length, bool forceUnitAccess)
    {
        while (length > 0)
        {
            var chunk = (int)Math.Min(length, Block.Length);
            backend.Write(offset, Block.AsSpan(0, chunk), forceUnitAccess);
            offset += chunk;
            length -= chunk;
        }
    }
}
