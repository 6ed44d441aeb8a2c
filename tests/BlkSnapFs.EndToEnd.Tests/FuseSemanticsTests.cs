using BlkSnapFs.EndToEnd.Tests.Infrastructure;

namespace BlkSnapFs.EndToEnd.Tests;

/// <summary>The mount behaves like files: sizes, modes, ends, refusals, images coming and going, events waking readers.</summary>
public sealed class FuseSemanticsTests : EndToEndTest
{
    private const long Size = 64L << 20;

    private async Task<string> StartAsync()
    {
        var a = await M.CreateDeviceFileAsync("a.img", 64, fs: null);
        await M.StartDaemonAsync([("a", a)], "DiffStorage:MinimumSectors=1024,Chunk:MinimumShift=18,Chunk:MaximumShift=18");
        return a;
    }

    [Fact]
    public async Task StatSizesAndModesImageComesAtTakeAndGoesAtDestroy()
    {
        await StartAsync();
        var dir = $"{M.Mnt}/a";
        Assert.Equal("600 " + Size, (await M.ShOkAsync($"stat -c '%a %s' '{dir}/live'")).Trim());
        Assert.Equal(["cbtinfo", "cbtmap", "events", "info", "live"], await ListAsync(dir));
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff.storage"), "-l", "64M")).Trim();
        Assert.DoesNotContain("image", await ListAsync(dir));
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        Assert.Equal(["cbtinfo", "cbtmap", "events", "image", "info", "live"], await ListAsync(dir));
        Assert.Equal("600 " + Size + " regular file", (await M.ShOkAsync($"stat -c '%a %s %F' '{dir}/image'")).Trim());
        Assert.Equal($"{M.Mnt}/a/image", (await M.BlksnapFieldsAsync("snapshot_info", "-d", "a"))["image"]);
        var info = TestMachine.ParseFields(await File.ReadAllTextAsync($"{dir}/info"), ':');
        Assert.Equal(id, info["snapshot"]);
        Assert.Equal("taken", info["state"]);
        Assert.Equal("fuse", info["frontend"]);
        Assert.Equal((1 << 18).ToString(System.Globalization.CultureInfo.InvariantCulture), info["chunk_size"]);
        Assert.Equal("0", info["storage_used_bytes"]);
        Assert.Equal((64L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), info["storage_limit_bytes"]);
        // A first write copies the blocks it overwrites, not its whole chunk; one covering a chunk copies it whole.
        await M.ShOkAsync($"dd if=/dev/zero of='{dir}/live' bs=4096 count=1 seek=100 conv=notrunc,fsync status=none");
        Assert.Equal("4096", (await M.BlksnapFieldsAsync("snapshot_info", "-d", "a"))["storage_used_bytes"]);
        await M.ShOkAsync($"dd if=/dev/zero of='{dir}/live' bs=256K count=1 seek=3 conv=notrunc,fsync status=none");
        var used = (await M.BlksnapFieldsAsync("snapshot_info", "-d", "a"))["storage_used_bytes"];
        Assert.Equal((4096 + (1 << 18)).ToString(System.Globalization.CultureInfo.InvariantCulture), used);
        Assert.Equal(used, TestMachine.ParseFields(await File.ReadAllTextAsync($"{dir}/info"), ':')["storage_used_bytes"]);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
        Assert.DoesNotContain("image", await ListAsync(dir));
        var infoAfter = TestMachine.ParseFields(await File.ReadAllTextAsync($"{dir}/info"), ':');
        Assert.Equal("none", infoAfter["state"]);
        Assert.Equal("0", infoAfter["chunk_size"]);
        Assert.Equal("", (await M.BlksnapFieldsAsync("snapshot_info", "-d", "a")).GetValueOrDefault("image", ""));
    }

    private async Task<List<string>> ListAsync(string dir) =>
        [.. (await M.ShOkAsync($"ls '{dir}'")).Split('\n', StringSplitOptions.RemoveEmptyEntries)];

    [Fact]
    public async Task ReadPastEndZeroBytesWritePastEndNoSpaceTruncateNotPermittedNoCreateNoRemove()
    {
        await StartAsync();
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff.storage"), "-l", "64M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        foreach (var file in (string[])["live", "image"])
        {
            var path = $"{M.Mnt}/a/{file}";
            // Reads at and past the end give 0 bytes; a read across the end gives what is left.
            Assert.Equal("0 0 100", (await M.ShOkAsync(
                $"python3 -c \"import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); print(len(os.pread(fd, 4096, {Size})), len(os.pread(fd, 4096, {Size} + 8192)), len(os.pread(fd, 4096, {Size} - 100)))\" '{path}'")).Trim());
            // A write past the end fails with ENOSPC (or EFBIG) and the file does not grow.
            var past = await M.ShAsync($"python3 -c \"import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); os.pwrite(fd, b'x' * 512, {Size})\" '{path}'");
            Assert.False(past.Ok, $"writing past the end of {file} succeeded");
            Assert.Matches("No space left on device|File too large", past.Stderr);
            Assert.Equal(Size, new FileInfo(path).Length);
            var truncate = await M.ShAsync($"truncate -s 1M '{path}'");
            Assert.False(truncate.Ok, $"truncate of {file} succeeded");
            Assert.Contains("Operation not permitted", truncate.Stderr, StringComparison.Ordinal);
            Assert.Equal(Size, new FileInfo(path).Length);
            var remove = await M.ShAsync($"rm -f '{path}'");
            Assert.False(remove.Ok, $"rm of {file} succeeded");
            Assert.True(File.Exists(path));
        }
        var create = await M.ShAsync($"touch '{M.Mnt}/a/newfile'");
        Assert.False(create.Ok, "creating a file in a device directory succeeded");
        Assert.False(File.Exists($"{M.Mnt}/a/newfile"));
        var mkdir = await M.ShAsync($"mkdir '{M.Mnt}/newdir'");
        Assert.False(mkdir.Ok, "making a directory at the mount's root succeeded");
        var rmdir = await M.ShAsync($"rm -rf '{M.Mnt}/a'");
        Assert.False(rmdir.Ok, "removing a device directory succeeded");
        Assert.True(File.Exists($"{M.Mnt}/a/live"));
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }

    [Fact]
    public async Task ImageOpenedBeforeDestroyFailsWithIoErrorAfterDoesNotHang()
    {
        await StartAsync();
        await M.ShOkAsync("head -c 1M /dev/urandom | dd of=\"$M/a/live\" conv=notrunc,fsync status=none");
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff.storage"), "-l", "64M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        // The holder reads once, waits for the destroy (a line on stdin would need a pipe; a file flag will do), reads and writes again.
        var holder = M.StartBackground(SystemPython.Path, "-c", """
            import os, sys, time
            fd = os.open(sys.argv[1], os.O_RDWR)
            print("first", len(os.pread(fd, 65536, 0)), flush=True)
            while not os.path.exists(sys.argv[2]):
                time.sleep(0.05)
            for what, op in (("read", lambda: os.pread(fd, 65536, 0)), ("write", lambda: os.pwrite(fd, b"y" * 4096, 0))):
                try:
                    op()
                    print(what, "ok", flush=True)
                except OSError as e:
                    print(what, "errno", e.errno, flush=True)
            """, $"{M.Mnt}/a/image", M.PathOf("destroyed"));
        Assert.True(await Wait.UntilAsync(() => holder.Stdout.Contains("first 65536", StringComparison.Ordinal), TimeSpan.FromSeconds(20)),
            "the image could not be read before the destroy: " + holder.Stdout + holder.Stderr);
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
        await File.WriteAllTextAsync(M.PathOf("destroyed"), "");
        var end = await holder.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(end is not null, "I/O on an image opened before its destroy hangs");
        // The handle still names the destroyed image: EIO (5), never data or success.
        Assert.Contains("read errno 5\n", end.Stdout, StringComparison.Ordinal);
        Assert.Contains("write errno 5\n", end.Stdout, StringComparison.Ordinal);
        // The original did not get the write meant for the dead image.
        await M.ShOkAsync("cmp -n 4096 \"$M/a/live\" a.img");
        Assert.NotEqual(new string('y', 16), (await M.ShOkAsync("head -c 16 \"$M/a/live\"")));
    }

    [Fact]
    public async Task EventsReadBlocksUntilEventSelectWakes()
    {
        await StartAsync();
        var id = (await M.BlksnapOkAsync("snapshot_create", "-d", "a", "-f", M.PathOf("diff.storage"), "-l", "64M")).Trim();
        await M.BlksnapOkAsync("snapshot_take", "-i", id);
        var watcher = M.StartBackground(SystemPython.Path, "-c", """
            import os, select, sys, time
            f = open(sys.argv[1], "rb", buffering=0)
            r, _, _ = select.select([f], [], [], 0.5)
            print("idle-ready", len(r), flush=True)
            start = time.time()
            r, _, _ = select.select([f], [], [], 60)
            print("woke", len(r), round(time.time() - start, 1), flush=True)
            print("line", f.read(65536).decode().strip(), flush=True)
            """, $"{M.Mnt}/a/events");
        var reader = M.StartBackground("cat", $"{M.Mnt}/a/events");
        Assert.True(await Wait.UntilAsync(() => watcher.Stdout.Contains("idle-ready", StringComparison.Ordinal), TimeSpan.FromSeconds(20)), watcher.Stderr);
        // Nothing happened yet: select saw nothing ready and the plain read is still blocked.
        Assert.Contains("idle-ready 0", watcher.Stdout, StringComparison.Ordinal);
        await Task.Delay(1000);
        Assert.False(reader.HasExited, "reading the events file returned without an event: " + reader.Stdout + reader.Stderr);
        Assert.Equal("", reader.Stdout);

        // Copy-on-write of 1 MiB uses four of eight 256 KiB chunks' room: low_free_space.
        await M.ShOkAsync("head -c 1M /dev/urandom | dd of=\"$M/a/live\" bs=64K conv=notrunc,fsync status=none");
        var woke = await watcher.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(woke is not null, "select on the events file did not wake at an event");
        Assert.Contains("woke 1", woke.Stdout, StringComparison.Ordinal);
        Assert.Matches("line \\{.*\"event\":\"low_free_space\"", woke.Stdout);
        Assert.True(await Wait.UntilAsync(() => reader.Stdout.Contains("low_free_space", StringComparison.Ordinal), TimeSpan.FromSeconds(20)),
            "the blocked read of the events file did not return the event");
        await M.BlksnapOkAsync("snapshot_destroy", "-i", id);
    }
}
