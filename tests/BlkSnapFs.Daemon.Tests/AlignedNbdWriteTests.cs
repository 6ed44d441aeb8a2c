using System.Globalization;
using BlkSnapFs.Core;
using BlkSnapFs.Daemon.Frontends;
using BlkSnapFs.Nbd;
using Xunit.Abstractions;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>
/// The live NBD export of a device opened with O_DIRECT, as the dm frontend serves it: fio's nbd
/// engine writes aligned 64 KiB blocks over 16 libnbd connections at once, a few requests in flight
/// on each, then reads them back and checks each block's checksum and offset. The payloads arrive
/// in aligned memory, so no write or read is bounced and several writes reach the file together.
/// </summary>
public sealed class AlignedNbdWriteTests(ITestOutputHelper output)
{
    private const int Connections = 16;
    private const int Block = 64 << 10;
    private const int RegionSize = 8 << 20;
    private const int Depth = 4;

    [Fact]
    public void AlignedWritesFromSixteenConnectionsAreServedConcurrentlyWithoutBounces()
    {
        var fio = Fio.Path;
        using var dir = new TestDirectory("bsnbd-", TestDirectory.DiskParent);
        var path = dir.File("disk");
        using (var file = File.Create(path))
            file.SetLength((long)Connections * RegionSize);
        using var engine = new BlkSnapEngine(new EngineParameters());
        var original = FileBlockDevice.Open(path, direct: true);
        var device = engine.Attach(original, "disk");
        var socket = dir.File("nbd.sock");
        using var server = new NbdServer(new NbdServerOptions { UnixSocketPath = socket });
        server.AddExport(new NbdExport("", new DeviceExportBackend(device)));
        server.Start();

        // One job per connection, each writing its own region; crc32c verification reads every
        // block back through NBD and checks its checksum and the offset stamped in it.
        var result = TestProcess.Run(fio,
        [
            "--name=aligned", "--ioengine=nbd", $"--uri=nbd+unix:///?socket={socket}", "--rw=write",
            $"--bs={Block}", $"--numjobs={Connections}", $"--iodepth={Depth}", $"--size={RegionSize}",
            $"--offset_increment={RegionSize}", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1",
            "--group_reporting",
        ]);

        Assert.True(result.Ok, $"fio failed: {result}");
        var counters = original.Counters;
        var rate = result.Stdout.Split('\n').FirstOrDefault(line => line.TrimStart().StartsWith("WRITE:", StringComparison.Ordinal))?.Trim();
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Connections} connections, {Connections * RegionSize / Block} writes of {Block} B ({rate}): {counters.BouncedWrites} bounced, at most {counters.PeakWritesInFlight} at the file at once"));
        Assert.Equal(0, counters.BouncedWrites);
        Assert.Equal(0, counters.BouncedReads);
        // Half the connections at once at least: with the thread pool's floor at one thread per core, 2 was the most seen.
        Assert.True(counters.PeakWritesInFlight >= Connections / 2, $"at most {counters.PeakWritesInFlight} writes at the file at once from {Connections} connections");
    }
}
