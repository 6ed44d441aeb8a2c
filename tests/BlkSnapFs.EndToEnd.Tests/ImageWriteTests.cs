using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>
/// Upstream's 6000/6100-snapimage_write: unaligned writes into the image across chunk borders
/// read back exactly; writes to the image and to the original at the same time each land only
/// where they were sent.
/// </summary>
public sealed class ImageWriteTests : EndToEndTest
{
    private const int SizeMiB = 64;

    /// <summary>
    /// writes.py write PATH SEED COUNT SIZE CHUNK: COUNT writes of odd lengths at odd offsets, each
    /// around a chunk border, made from the seed. expect ORIG OUT SIZE CHUNK SEED COUNT [...]:
    /// ORIG with the writes of each SEED COUNT pair applied in order.
    /// </summary>
    private const string WritesScript = """
        import os, random, sys

        def plan(seed, count, size, chunk):
            r = random.Random(seed)
            for _ in range(count):
                border = r.randrange(1, size // chunk) * chunk
                length = r.choice([1, 3, 511, 513, 777, 4095, 4097, 65537, chunk + 123, 3 * chunk - 7])
                start = border - r.randrange(0, min(length, 4099) + 1)
                start = max(0, min(start, size - length))
                yield start, r.randbytes(length)

        cmd = sys.argv[1]
        if cmd == "write":
            path, seed, count, size, chunk = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
            fd = os.open(path, os.O_WRONLY)
            for start, data in plan(seed, count, size, chunk):
                assert os.pwrite(fd, data, start) == len(data)
            os.fsync(fd)
            os.close(fd)
        elif cmd == "expect":
            orig, out, size, chunk = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
            buf = bytearray(open(orig, "rb").read())
            rest = sys.argv[6:]
            for i in range(0, len(rest), 2):
                for start, data in plan(int(rest[i]), int(rest[i + 1]), size, chunk):
                    buf[start:start + len(data)] = data
            open(out, "wb").write(buf)
        """;

    private const int Chunk = 1 << 18; // Chunk:MinimumShift=18, the shipped default, for a 64 MiB device

    private async Task<string> SetUpAsync()
    {
        await File.WriteAllTextAsync(M.PathOf("writes.py"), WritesScript);
        var a = M.PathOf("a.img");
        await M.ShOkAsync($"head -c {SizeMiB}M /dev/urandom > a.img; cp a.img orig.copy");
        await M.StartDaemonAsync([("a", a)], "Chunk:MinimumShift=18");
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff.storage"), "-l", "256M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        return id;
    }

    [Fact]
    public async Task UnalignedWritesAcrossChunkBordersReadBackExactlyOriginalUntouched()
    {
        var id = await SetUpAsync();
        var size = SizeMiB << 20;
        await M.ShOkAsync($"python3 writes.py write \"$M/a/image\" 6000 300 {size} {Chunk}");
        await M.ShOkAsync($"python3 writes.py expect orig.copy expected.image {size} {Chunk} 6000 300");
        var diff = await M.ShAsync("cmp \"$M/a/image\" expected.image");
        Assert.True(diff.Ok, "the image does not read back what was written into it\n" + diff);
        await M.ShOkAsync("cmp \"$M/a/live\" orig.copy");
        await M.ShOkAsync("cmp a.img orig.copy");

        // A second pass over the same borders (chunks now in the storage) and a fresh open.
        await M.ShOkAsync($"python3 writes.py write \"$M/a/image\" 6001 200 {size} {Chunk}");
        await M.ShOkAsync($"python3 writes.py expect orig.copy expected.image {size} {Chunk} 6000 300 6001 200");
        await M.ShOkAsync("cmp \"$M/a/image\" expected.image");
        await M.ShOkAsync("cmp a.img orig.copy");
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }

    [Fact]
    public async Task SimultaneousWritesToImageAndLiveEachReadsBackItsOwnOtherUntouched()
    {
        var id = await SetUpAsync();
        var size = SizeMiB << 20;
        // Both writers at once, over the same chunk borders (the plans share border positions by chance only,
        // so several rounds of each make overlaps certain on a 256-chunk device).
        await M.ShOkAsync(
            $"python3 writes.py write \"$M/a/image\" 6100 400 {size} {Chunk} & i=$!; " +
            $"python3 writes.py write \"$M/a/live\" 6101 400 {size} {Chunk} & l=$!; " +
            "wait $i; wait $l", TimeSpan.FromMinutes(3));
        await M.ShOkAsync($"python3 writes.py expect orig.copy expected.image {size} {Chunk} 6100 400");
        await M.ShOkAsync($"python3 writes.py expect orig.copy expected.live {size} {Chunk} 6101 400");
        var image = await M.ShAsync("cmp \"$M/a/image\" expected.image");
        Assert.True(image.Ok, "the image does not hold exactly its own writes over the snapshot data\n" + image);
        var live = await M.ShAsync("cmp \"$M/a/live\" expected.live");
        Assert.True(live.Ok, "the original does not hold exactly its own writes\n" + live);
        await M.ShOkAsync("cmp a.img expected.live");
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
        // After destroy the original is unchanged by it.
        await M.ShOkAsync("cmp \"$M/a/live\" expected.live");
    }
}
