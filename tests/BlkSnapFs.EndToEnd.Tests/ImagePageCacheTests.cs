using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// A backup reads the whole image once. Through the page cache, that read would leave the whole device
/// there and push the server's working set out; instead what it brings in leaves again behind it, and
/// what the server had cached stays.
/// </summary>
[Collection(nameof(WholePageCache))]
public sealed class ImagePageCacheTests : EndToEndTest
{
    private const int SizeMiB = 128;
    private const int CopiedMiB = 48;

    /// <summary>
    /// cached.py FILE [FROM_MIB COUNT_MIB | map]: the cached bytes of the file (or of that range), by cachestat(2);
    /// with map, the MiB of the file that hold a cached page, as ranges ("0-3 47"), for a failure's message.
    /// </summary>
    private const string CachedScript = """
        import ctypes, os, sys

        class Range(ctypes.Structure):
            _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]

        class Stat(ctypes.Structure):
            _fields_ = [(n, ctypes.c_uint64) for n in ("cache", "dirty", "writeback", "evicted", "recently_evicted")]

        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(sys.argv[1], os.O_RDONLY)
        mib = 1 << 20

        def cached(off, length):
            s = Stat()
            if libc.syscall(451, fd, ctypes.byref(Range(off, length)), ctypes.byref(s), 0) != 0:
                sys.exit(f"cachestat: {os.strerror(ctypes.get_errno())}")
            return s.cache * os.sysconf("SC_PAGE_SIZE")

        if sys.argv[2:] == ["map"]:
            held = [m for m in range((os.fstat(fd).st_size + mib - 1) // mib) if cached(m * mib, mib)]
            runs = []
            for m in held:
                if runs and runs[-1][1] == m - 1:
                    runs[-1][1] = m
                else:
                    runs.append([m, m])
            print(" ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs) or "none")
        else:
            print(cached(int(sys.argv[2]) * mib, int(sys.argv[3]) * mib) if len(sys.argv) > 3 else cached(0, 0))
        """;

    [Fact]
    public async Task AWholeImageReadLeavesThePageCacheAsItFoundIt()
    {
        var disk = await M.CreateDeviceFileAsync("disk.img", SizeMiB, fs: null);
        await M.ShOkAsync($"head -c {SizeMiB}M /dev/urandom > '{disk}'");
        var before = (await M.ShOkAsync($"md5sum < '{disk}'")).Trim();
        await M.StartDaemonAsync([("disk", disk)]);
        var storage = M.PathOf("diff.storage");
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "disk", "-f", storage, "-l", "200M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        // The first CopiedMiB copied to the storage, so the image reads both files.
        await M.ShOkAsync($"dd if=/dev/urandom of='{M.Mnt}/disk/live' bs=1M count={CopiedMiB} oflag=direct conv=notrunc status=none");
        var script = M.PathOf("cached.py");
        await File.WriteAllTextAsync(script, CachedScript);
        async Task<long> CachedMiB(string path, string range = "") =>
            long.Parse(await M.ShOkAsync($"python3 '{script}' '{path}' {range}"), System.Globalization.CultureInfo.InvariantCulture) >> 20;
        // Which MiB of both files are cached, for a failure to show where the pages it counted lie.
        async Task<string> Where() =>
            $"cached MiB of the original: {(await M.ShOkAsync($"python3 '{script}' '{disk}' map")).Trim()}; " +
            $"of the storage: {(await M.ShOkAsync($"python3 '{script}' '{storage}' map")).Trim()}";
        async Task Expect(long expected, string path, string range, string when)
        {
            var cached = await CachedMiB(path, range);
            if (cached != expected)
                Assert.Fail($"{when}: {cached} MiB of {Path.GetFileName(path)}{(range == "" ? "" : $" (MiB {range})")} cached, not {expected} ({await Where()})");
        }

        // Nothing cached of either file; then the server's working set: 8 MiB of the original the image
        // reads, with what the kernel read ahead of it. The copies reach the storage from a queue after dd
        // returns; an fsync of the image waits for them, or a late one caches its pages after the drop
        // (a rehearsal of CI found 6 MiB of the storage cached so).
        await M.ShOkAsync($"python3 -c 'import os, sys; os.fsync(os.open(sys.argv[1], os.O_RDONLY))' '{M.Mnt}/disk/image'");
        await M.ShOkAsync($"sync; dd if='{disk}' iflag=nocache count=0 status=none; dd if='{storage}' iflag=nocache count=0 status=none");
        await Expect(0, disk, "", "after the drop");
        await Expect(0, storage, "", "after the drop");
        await M.ShOkAsync($"dd if='{disk}' of=/dev/null bs=1M skip=96 count=8 status=none");
        await Expect(8, disk, "96 8", "the server's working set");
        var cachedBefore = await CachedMiB(disk);

        Assert.Equal(before, (await M.ShOkAsync($"dd if='{M.Mnt}/disk/image' bs=1M status=none | md5sum")).Trim());

        // Through the page cache, all 80 MiB of the original the image reads and the 48 of the storage stayed cached.
        await Expect(8, disk, "96 8", "after the image read, the server's working set");
        var cachedAfter = await CachedMiB(disk);
        if (cachedAfter > cachedBefore + 2)
            Assert.Fail($"{cachedAfter} MiB of the original are cached after the image read, {cachedBefore} MiB were before ({await Where()})");
        var stored = await CachedMiB(storage);
        if (stored > 2)
            Assert.Fail($"{stored} MiB of the storage are cached after the image read, none were before ({await Where()})");
    }
}
