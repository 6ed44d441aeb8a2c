using BlkSnapFs.Core;
using Xunit.Abstractions;

namespace BlkSnapFs.Core.Tests;

/// <summary>
/// Change tracking kept in a state directory: a clean stop and a restart continue the generation
/// byte for byte, a crash leaves every acknowledged write marked, and a state that cannot be
/// trusted starts a new generation instead of loading.
/// </summary>
public sealed class TrackingStateTests(ITestOutputHelper output) : IDisposable
{
    private const long Capacity = 16L << 20;
    private readonly TestDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string StateDirectory => Directory.CreateDirectory(_dir.File("state")).FullName;

    private BlkSnapEngine NewEngine() => new(SmallParameters.Create(blockShift: 16), StateDirectory);

    private string Device(string name = "a.img")
    {
        var path = _dir.File(name);
        if (!File.Exists(path))
        {
            using var f = File.Create(path);
            f.SetLength(Capacity);
        }
        return path;
    }

    private static (byte[] Active, byte[] Frozen) Maps(ChangeTracker t)
    {
        var active = new byte[t.BlockCount];
        var frozen = new byte[t.BlockCount];
        t.Read(frozen: false, 0, active);
        t.Read(frozen: true, 0, frozen);
        return (active, frozen);
    }

    private int Seed()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("BLKSNAPFS_SEED"), out var s) ? s : Random.Shared.Next(1, int.MaxValue);
        output.WriteLine($"seed {seed} (BLKSNAPFS_SEED={seed} repeats it)");
        return seed;
    }

    private static void RandomWrites(TrackedDevice device, Random random, int count, HashSet<int>? blocks = null)
    {
        var data = new byte[8192];
        for (var i = 0; i < count; i++)
        {
            var length = random.Next(1, data.Length + 1);
            var offset = random.NextInt64(0, Capacity - length + 1);
            device.Write(offset, data.AsSpan(0, length));
            if (blocks is not null)
            {
                for (var b = offset >> device.Tracker.BlockShift; b <= (offset + length - 1) >> device.Tracker.BlockShift; b++)
                    blocks.Add((int)b);
            }
        }
    }

    [Fact]
    public void CleanRestartContinuesTheGenerationBothMapsByteForByte()
    {
        var seed = Seed();
        var random = new Random(seed);
        Guid generation;
        byte changes;
        (byte[] Active, byte[] Frozen) before;
        using (var engine = NewEngine())
        {
            var (device, _) = engine.Attach(Device());
            Assert.Equal(TrackingStart.New, device.Tracker.Start);
            for (var round = 0; round < 3; round++)
            {
                RandomWrites(device, random, 40);
                var id = engine.Create([device]).Id;
                engine.Take(id);
                engine.Destroy(id);
            }
            RandomWrites(device, random, 40);
            device.Tracker.MarkDirty([(100, 8)]);
            (generation, changes, before) = (device.Tracker.GenerationId, device.Tracker.ChangesNumber, Maps(device.Tracker));
        }
        using (var engine = NewEngine())
        {
            var (device, _) = engine.Attach(Device());
            Assert.Equal(TrackingStart.RestoredClean, device.Tracker.Start);
            Assert.Equal(generation, device.Tracker.GenerationId);
            Assert.Equal(changes, device.Tracker.ChangesNumber);
            var after = Maps(device.Tracker);
            Assert.True(before.Active.AsSpan().SequenceEqual(after.Active), $"active map differs after a clean restart (seed {seed})");
            Assert.True(before.Frozen.AsSpan().SequenceEqual(after.Frozen), $"frozen map differs after a clean restart (seed {seed})");

            // Writes after the restart count in the same generation, and the next take numbers on.
            device.Write(0, new byte[512]);
            var id = engine.Create([device]).Id;
            engine.Take(id);
            Assert.Equal(changes + 1, device.Tracker.ChangesNumber);
            Assert.Equal(generation, device.Tracker.GenerationId);
            engine.Destroy(id);
        }
    }

    [Fact]
    public void CrashLeavesEveryAcknowledgedWriteMarkedFromConcurrentWriters()
    {
        var seed = Seed();
        var path = Device();
        var statePath = Path.Combine(StateDirectory, "crash.cbt");
        var written = new HashSet<int>[4];
        var parameters = SmallParameters.Create(blockShift: 16).Tracking;
        Guid generation;
        using (var tracker = new ChangeTracker(Capacity, parameters))
        {
            tracker.UseStateFile(statePath, path);
            tracker.Switch();
            tracker.PersistSwitch();
            generation = tracker.GenerationId;
            Parallel.For(0, written.Length, w =>
            {
                var random = new Random(seed + w);
                written[w] = [];
                for (var i = 0; i < 300; i++)
                {
                    var length = random.Next(1, 200_000);
                    var offset = random.NextInt64(0, Capacity - length);
                    tracker.MarkWritten(offset, length);
                    for (var b = offset >> tracker.BlockShift; b <= (offset + length - 1) >> tracker.BlockShift; b++)
                        written[w].Add((int)b);
                }
            });
            // No SaveState: the process dies here, with only what MarkWritten made durable on disk.
        }
        using var restored = new ChangeTracker(Capacity, parameters);
        restored.UseStateFile(statePath, path);
        Assert.Equal(TrackingStart.RestoredAfterCrash, restored.Start);
        Assert.Equal(generation, restored.GenerationId);
        Assert.Equal(1, restored.ChangesNumber);
        var (active, _) = Maps(restored);
        foreach (var block in written.SelectMany(w => w))
            Assert.True(active[block] == 2, $"block {block} was written but is {active[block]} after the crash (seed {seed})");
        var marked = active.Count(b => b == 2);
        var exact = written.SelectMany(w => w).Distinct().Count();
        output.WriteLine($"{exact} blocks written, {marked} reported after the crash");
        Assert.True(marked <= exact * TrackingStateFile.GroupBlocks);
    }

    /// <summary>A take saves its switch once writes run again; a crash in between leaves marks the file's numbers cannot explain.</summary>
    [Fact]
    public void CrashBetweenTheSwitchAndItsCheckpointIsRejectedNeverLoadedShort()
    {
        var path = Device();
        var statePath = Path.Combine(StateDirectory, "window.cbt");
        var parameters = SmallParameters.Create(blockShift: 16).Tracking;
        using (var tracker = new ChangeTracker(Capacity, parameters))
        {
            tracker.UseStateFile(statePath, path);
            tracker.Switch();
            tracker.MarkWritten(1 << 20, 4096);
        }
        using var restored = new ChangeTracker(Capacity, parameters);
        restored.UseStateFile(statePath, path);
        Assert.Equal(TrackingStart.Rejected, restored.Start);
        Assert.Contains("past the active one", restored.StateNote, StringComparison.Ordinal);
    }

    [Fact]
    public void DetachRemovesTheStateSoTheNextAttachIsANewGeneration()
    {
        Guid generation;
        using (var engine = NewEngine())
        {
            var (device, _) = engine.Attach(Device());
            generation = device.Tracker.GenerationId;
            Assert.True(File.Exists(engine.StateFilePath(device.Path)));
            engine.Detach("a.img");
            Assert.False(File.Exists(engine.StateFilePath(device.Path)));
        }
        using (var engine = NewEngine())
        {
            var (device, _) = engine.Attach(Device());
            Assert.Equal(TrackingStart.New, device.Tracker.Start);
            Assert.NotEqual(generation, device.Tracker.GenerationId);
        }
    }

    public static TheoryData<string> Damages => ["checksum", "torn", "identity", "capacity", "block size", "map value", "garbage"];

    [Theory]
    [MemberData(nameof(Damages))]
    public void UntrustworthyStateStartsANewGenerationAndIsKeptAside(string damage)
    {
        var path = Device();
        Guid generation;
        string statePath;
        using (var engine = NewEngine())
        {
            var (device, _) = engine.Attach(path);
            device.Write(1 << 20, new byte[4096]);
            var id = engine.Create([device]).Id;
            engine.Take(id);
            engine.Destroy(id);
            generation = device.Tracker.GenerationId;
            statePath = engine.StateFilePath(device.Path);
        }
        var parameters = SmallParameters.Create(blockShift: 16);
        var identity = $"{path}\n{DeviceIdentity.StableId(path)}";
        var capacity = Capacity;
        var bytes = File.ReadAllBytes(statePath);
        switch (damage)
        {
            case "checksum":
                bytes[TrackingStateFile.HeaderSize + 3] ^= 1; // a clean state's maps are in its checksum
                break;
            case "torn":
                Array.Resize(ref bytes, bytes.Length - 100);
                break;
            case "identity":
                identity = $"{path}\nfile 1:2";
                break;
            case "capacity":
                capacity = Capacity + (1 << 16);
                break;
            case "block size":
                parameters = SmallParameters.Create(blockShift: 17);
                break;
            case "map value":
                // A running state's maps are outside its checksum; a number no write could have left gives it away.
                var running = new ChangeTracker(Capacity, parameters.Tracking);
                running.UseStateFile(statePath, identity);
                running.Dispose();
                bytes = File.ReadAllBytes(statePath);
                bytes[TrackingStateFile.HeaderSize + 7] = 200;
                break;
            case "garbage":
                bytes = new byte[bytes.Length];
                Random.Shared.NextBytes(bytes);
                break;
        }
        File.WriteAllBytes(statePath, bytes);

        using var tracker = new ChangeTracker(capacity, parameters.Tracking);
        tracker.UseStateFile(statePath, identity);
        output.WriteLine(tracker.StateNote);
        Assert.Equal(TrackingStart.Rejected, tracker.Start);
        Assert.NotEqual(generation, tracker.GenerationId);
        Assert.Equal(0, tracker.ChangesNumber);
        Assert.Contains("a new generation starts", tracker.StateNote, StringComparison.Ordinal);
        Assert.True(File.Exists(statePath + ".rejected"), "the rejected state is kept for a look");
        var expected = damage switch
        {
            "checksum" => "bad checksum",
            "torn" => "torn",
            "identity" => "another device",
            "capacity" => "capacity changed",
            "block size" => "block size changed",
            "map value" => "past the active one",
            _ => "not a tracking state file",
        };
        Assert.Contains(expected, tracker.StateNote, StringComparison.Ordinal);
    }

    [Fact]
    public void GenerationWrapIsSaved()
    {
        var path = Device();
        Guid wrapped;
        byte changes;
        using (var engine = NewEngine())
        {
            var (device, _) = engine.Attach(path);
            var first = device.Tracker.GenerationId;
            for (var i = 0; i < 255; i++)
                device.Tracker.Switch();
            (wrapped, changes) = (device.Tracker.GenerationId, device.Tracker.ChangesNumber);
            Assert.NotEqual(first, wrapped);
        }
        using (var engine = NewEngine())
        {
            var (device, _) = engine.Attach(path);
            Assert.Equal(TrackingStart.RestoredClean, device.Tracker.Start);
            Assert.Equal(wrapped, device.Tracker.GenerationId);
            Assert.Equal(changes, device.Tracker.ChangesNumber);
        }
    }

    [Fact]
    public void StateFileThatCannotBeWrittenIsGivenUpAndRemovedWritesGoOn()
    {
        var path = Device();
        using var engine = NewEngine();
        var (device, _) = engine.Attach(path);
        var lost = new List<string>();
        device.Tracker.StateLost += lost.Add;
        var statePath = engine.StateFilePath(device.Path);
        // A directory where the next checkpoint's temporary file must go makes the checkpoint fail.
        Directory.CreateDirectory(statePath + ".new");
        var id = engine.Create([device]).Id;
        engine.Take(id);
        engine.Destroy(id);
        Assert.Single(lost);
        Assert.NotNull(device.Tracker.StateFailure);
        Assert.False(File.Exists(statePath), "a state file that fell behind must not stay to be loaded");
        device.Write(0, new byte[4096]);
    }
}
