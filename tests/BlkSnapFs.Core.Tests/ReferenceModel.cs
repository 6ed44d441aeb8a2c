using BlkSnapFs.Core;
using Bogus;

namespace BlkSnapFs.Core.Tests;

/// <summary>
/// A plain model of what the engine must do: each device's bytes, each held image's bytes (the
/// device at take plus the image's own writes), and the change map (upstream's numbering).
/// </summary>
internal sealed class DeviceModel(string name, byte[] original, int blockShift)
{
    public string Name { get; } = name;
    public byte[] Original { get; } = original;
    public byte[]? Image { get; set; }

    /// <summary>The held image's storage overflowed (or failed): it must refuse every request with EIO.</summary>
    public bool ImageLost { get; set; }
    public byte[] Active { get; } = new byte[(original.Length + (1 << blockShift) - 1) >> blockShift];
    public byte[] Frozen { get; } = new byte[(original.Length + (1 << blockShift) - 1) >> blockShift];
    public bool[] ChangedSinceTake { get; } = new bool[(original.Length + (1 << blockShift) - 1) >> blockShift];
    public int ActiveNumber { get; private set; } = 1;
    public int PreviousNumber { get; private set; }
    public int Generation { get; private set; }

    public void MarkWritten(long offset, long length)
    {
        foreach (var b in Blocks(offset, length))
        {
            Active[b] = (byte)ActiveNumber;
            ChangedSinceTake[b] = true;
        }
    }

    public void MarkBoth(long offset, long length)
    {
        foreach (var b in Blocks(offset, length))
        {
            Active[b] = (byte)Math.Max(Active[b], ActiveNumber);
            Frozen[b] = (byte)Math.Max(Frozen[b], PreviousNumber);
            ChangedSinceTake[b] = true;
        }
    }

    public void Switch()
    {
        PreviousNumber = ActiveNumber;
        ActiveNumber++;
        if (ActiveNumber > 255)
        {
            ActiveNumber = 1;
            Array.Clear(Active);
            Generation++;
        }
        Active.CopyTo(Frozen, 0);
        Array.Clear(ChangedSinceTake);
    }

    private IEnumerable<int> Blocks(long offset, long length)
    {
        if (length <= 0)
            yield break;
        for (var b = (int)(offset >> blockShift); b <= (int)((offset + length - 1) >> blockShift); b++)
            yield return b;
    }
}

/// <summary>One seeded run of random operations against the engine and the model, checked after every step.</summary>
internal sealed class ModelRun(int seed)
{
    private readonly Faker _faker = new() { Random = new Randomizer(seed) };
    private readonly List<(Snapshot Snapshot, List<int> Devices)> _snapshots = [];
    private string _lastOperation = "";
    private long _lastOffset; // where the last write went: small writes land near it, next to or over it

    public int Seed => seed;
    public string LastOperation => _lastOperation;

    /// <summary>Chunks found copied in part at destroys, and images lost to a full storage: what the run exercised.</summary>
    public long PartialChunks { get; private set; }

    public long LostImages { get; private set; }

    public void Execute(int operations)
    {
        var r = _faker.Random;
        using var dir = new TestDirectory();
        var blockShift = r.Int(12, 15);
        // Chunks of 1 to 16 copy units, so that writes cover chunks whole and in part.
        var parameters = SmallParameters.Create(chunkShift: r.Int(12, 16), blockShift: blockShift, storageSectors: r.Int(64, 512));
        using var engine = new BlkSnapEngine(parameters);
        var random = new Random(seed);
        var models = new List<DeviceModel>();
        var devices = new List<TrackedDevice>();
        for (var i = 0; i < r.Int(1, 3); i++)
        {
            var size = r.Int(32, 2048) * 512L;
            var path = dir.Device($"dev{i}", size, random);
            // A device claiming 8 KiB sectors copies 8 KiB blocks.
            devices.Add(r.Int(0, 3) == 0 ? engine.Attach(new FaultyDevice(FileBlockDevice.Open(path), 8192), $"dev{i}") : engine.Attach(path).Device);
            models.Add(new DeviceModel($"dev{i}", File.ReadAllBytes(path), blockShift));
            Assert.Equal(blockShift, devices[i].Tracker.BlockShift);
        }

        for (var step = 0; step < operations; step++)
        {
            var d = r.Int(0, devices.Count - 1);
            var device = devices[d];
            var model = models[d];
            var roll = r.Int(0, 99);
            if (device.ErrorCode != 0 && model.Image is not null)
                model.ImageLost = true;
            if (roll < 20)
                WriteOriginal(device, model);
            else if (roll < 35)
                WriteOriginal(device, model, NearbyRange(device.Capacity));
            else if (roll < 47 && model.Image is not null)
                WriteImage(device, model, Range(device.Capacity));
            else if (roll < 55 && model.Image is not null)
                WriteImage(device, model, NearbyRange(device.Capacity));
            else if (roll < 60)
                DiscardOrZero(device, model);
            else if (roll < 65)
                MarkDirty(device, model);
            else if (roll < 71)
                Take(engine, devices, models, dir);
            else if (roll < 72 && model.Image is not null)
                ImageRequest(device, model, () => device.Image!.Flush());
            else if (roll < 76)
                Destroy(engine, devices, models);
            else if (roll < 88 && model.Image is not null)
                CheckImageRange(device, model);
            else
                CheckOriginalRange(device, model);
            CheckChangeMaps(device, model);
            if (step % 256 == 255)
                CheckEverything(devices, models);
        }
        CheckEverything(devices, models);
    }

    private (long Offset, int Length) Range(long capacity)
    {
        var r = _faker.Random;
        var length = r.Int(0, 9) switch
        {
            0 => 1,
            1 => 512,
            < 7 => r.Int(1, 20000),
            _ => r.Int(1, 70000),
        };
        length = (int)Math.Min(length, capacity);
        var offset = r.Int(0, 4) switch
        {
            0 => 0,
            1 => capacity - length,
            2 => r.Long(0, (capacity - length) / 4096) * 4096,
            _ => r.Long(0, capacity - length),
        };
        return (offset, length);
    }

    /// <summary>A small range (a byte to two blocks) next to, across or inside the last write, so partly copied chunks get neighbours and overlaps.</summary>
    private (long Offset, int Length) NearbyRange(long capacity)
    {
        var r = _faker.Random;
        var length = (int)Math.Min(r.Int(0, 2) == 0 ? 4096 : r.Int(1, 9000), capacity);
        var offset = Math.Clamp(_lastOffset + r.Int(-3, 3) * 4096 + (r.Bool() ? 0 : r.Int(-600, 600)), 0, capacity - length);
        return (offset, length);
    }

    private void WriteOriginal(TrackedDevice device, DeviceModel model, (long Offset, int Length)? range = null)
    {
        var (offset, length) = range ?? Range(device.Capacity);
        var data = _faker.Random.Bytes(length);
        _lastOperation = $"write {model.Name} original {offset}+{length}";
        _lastOffset = offset;
        device.Write(offset, data, forceUnitAccess: _faker.Random.Int(0, 20) == 0);
        data.CopyTo(model.Original, offset);
        model.MarkWritten(offset, length);
    }

    private void WriteImage(TrackedDevice device, DeviceModel model, (long Offset, int Length) range)
    {
        var (offset, length) = range;
        var data = _faker.Random.Bytes(length);
        _lastOperation = $"write {model.Name} image {offset}+{length}";
        _lastOffset = offset;
        var lost = model.ImageLost;
        if (ImageRequest(device, model, () => device.Image!.Write(offset, data)))
            data.CopyTo(model.Image!, offset);
        if (!lost && !model.ImageLost)
            model.MarkBoth(offset, length);
        else if (!lost)
            MarkIfMarked(device, model, offset, length);
    }

    /// <summary>An image write that failed as its image was lost marked the maps only if it was admitted before: take whichever the engine shows.</summary>
    private static void MarkIfMarked(TrackedDevice device, DeviceModel model, long offset, long length)
    {
        var active = (byte[])model.Active.Clone();
        var frozen = (byte[])model.Frozen.Clone();
        var changed = (bool[])model.ChangedSinceTake.Clone();
        model.MarkBoth(offset, length);
        var map = new byte[device.Tracker.BlockCount];
        var frozenMap = new byte[device.Tracker.BlockCount];
        device.Tracker.Read(frozen: false, 0, map);
        device.Tracker.Read(frozen: true, 0, frozenMap);
        if (map.AsSpan().SequenceEqual(model.Active) && frozenMap.AsSpan().SequenceEqual(model.Frozen))
            return;
        active.CopyTo(model.Active, 0);
        frozen.CopyTo(model.Frozen, 0);
        changed.CopyTo(model.ChangedSinceTake, 0);
    }

    /// <summary>
    /// Runs an image request: it must succeed unless the image is lost (its storage overflowed),
    /// when it must fail with EIO; it may fail so while the loss happens. Returns whether it ran.
    /// </summary>
    private static bool ImageRequest(TrackedDevice device, DeviceModel model, Action request)
    {
        if (model.ImageLost)
        {
            Assert.Equal(Errno.EIO, Assert.Throws<BlkSnapException>(request).Errno);
            return false;
        }
        try
        {
            request();
            return true;
        }
        catch (BlkSnapException e) when (e.Errno == Errno.EIO && device.ErrorCode != 0)
        {
            Assert.Equal(-Errno.ENOSPC, device.ErrorCode);
            model.ImageLost = true;
            return false;
        }
    }

    private void DiscardOrZero(TrackedDevice device, DeviceModel model)
    {
        var (offset, length) = Range(device.Capacity);
        var discard = _faker.Random.Bool();
        _lastOperation = $"{(discard ? "discard" : "write-zeroes")} {model.Name} {offset}+{length}";
        if (discard)
            device.Discard(offset, length);
        else
            device.WriteZeroes(offset, length);
        Array.Clear(model.Original, (int)offset, length);
        model.MarkWritten(offset, length);
    }

    private void MarkDirty(TrackedDevice device, DeviceModel model)
    {
        var sectors = device.Capacity >> 9;
        var count = _faker.Random.Long(1, Math.Min(64, sectors));
        var sector = _faker.Random.Long(0, sectors - count);
        _lastOperation = $"markdirty {model.Name} {sector}:{count}";
        device.Tracker.MarkDirty([(sector, count)]);
        model.MarkBoth(sector << 9, count << 9);
    }

    private void Take(BlkSnapEngine engine, List<TrackedDevice> devices, List<DeviceModel> models, TestDirectory dir)
    {
        var free = Enumerable.Range(0, devices.Count).Where(i => devices[i].Snapshot is null).ToList();
        if (free.Count == 0)
            return;
        var chosen = _faker.Random.ListItems(free, _faker.Random.Int(1, free.Count)).ToList();
        _lastOperation = $"take {string.Join(",", chosen.Select(i => models[i].Name))}";
        var snapshot = engine.Create(chosen.Select(i => devices[i]).ToList());
        var total = chosen.Sum(i => devices[i].Capacity);
        var roll = _faker.Random.Int(0, 9);
        if (roll < 4)
            snapshot.Storage.AppendGrowable(dir.Path, total * 2 + (1 << 20));
        else if (roll < 8)
            snapshot.Storage.AppendFile(dir.File($"storage-{snapshot.Id}"), total * 2 + (1 << 20));
        else // small enough to overflow, often in the middle of a chunk
            snapshot.Storage.AppendFile(dir.File($"storage-{snapshot.Id}"), _faker.Random.Int(1, 24) * 4096L);
        engine.Take(snapshot.Id);
        foreach (var i in chosen)
        {
            var before = models[i].PreviousNumber;
            var generation = models[i].Generation;
            var changed = (bool[])models[i].ChangedSinceTake.Clone();
            models[i].Switch();
            models[i].Image = (byte[])models[i].Original.Clone();
            models[i].ImageLost = false;
            var frozen = new byte[devices[i].Tracker.BlockCount];
            devices[i].Tracker.Read(frozen: true, 0, frozen);
            if (generation == models[i].Generation)
            {
                for (var b = 0; b < frozen.Length; b++)
                    Assert.True(changed[b] == frozen[b] > before, $"{models[i].Name} block {b}: changed={changed[b]} but map {frozen[b]} vs previous {before}");
            }
            Assert.Equal(models[i].PreviousNumber, devices[i].Tracker.ChangesNumber);
        }
        _snapshots.Add((snapshot, chosen));
    }

    private void Destroy(BlkSnapEngine engine, List<TrackedDevice> devices, List<DeviceModel> models)
    {
        if (_snapshots.Count == 0)
            return;
        var (snapshot, chosen) = _faker.Random.ListItem(_snapshots);
        _lastOperation = $"destroy {snapshot.Id}";
        foreach (var i in chosen)
        {
            CheckImage(devices[i], models[i], 0, (int)devices[i].Capacity);
            PartialChunks += devices[i].Image!.ChunkCensus().Partial;
            LostImages += models[i].ImageLost ? 1 : 0;
        }
        engine.Destroy(snapshot.Id); // often with runs still on their way to the storage
        _snapshots.RemoveAll(s => s.Snapshot == snapshot);
        foreach (var i in chosen)
        {
            models[i].Image = null;
            Assert.Null(devices[i].Image);
            Assert.Null(devices[i].Snapshot);
        }
    }

    private void CheckImageRange(TrackedDevice device, DeviceModel model)
    {
        var (offset, length) = _faker.Random.Bool() ? Range(device.Capacity) : NearbyRange(device.Capacity);
        _lastOperation = $"read {model.Name} image {offset}+{length}";
        CheckImage(device, model, offset, length);
    }

    /// <summary>Reads [offset, offset+length) of the image in requests of random sizes and compares it with the model.</summary>
    private void CheckImage(TrackedDevice device, DeviceModel model, long offset, int length)
    {
        var data = new byte[length];
        var request = _faker.Random.Int(0, 2) switch { 0 => 1 << 20, 1 => 4096, _ => _faker.Random.Int(1, 70000) };
        if (!ImageRequest(device, model, () =>
            {
                for (var at = 0; at < length; at += request)
                    Assert.Equal(Math.Min(request, length - at), device.Image!.Read(offset + at, data.AsSpan(at, Math.Min(request, length - at))));
            }))
        {
            return;
        }
        AssertSame(model.Image!.AsSpan((int)offset, length), data, $"{model.Name} image", offset);
    }

    private void CheckOriginalRange(TrackedDevice device, DeviceModel model)
    {
        var (offset, length) = Range(device.Capacity);
        _lastOperation = $"read {model.Name} original {offset}+{length}";
        var data = new byte[length];
        device.Read(offset, data);
        AssertSame(model.Original.AsSpan((int)offset, length), data, $"{model.Name} original", offset);
    }

    private static void CheckChangeMaps(TrackedDevice device, DeviceModel model)
    {
        var map = new byte[device.Tracker.BlockCount];
        device.Tracker.Read(frozen: false, 0, map);
        Assert.Equal(model.Active, map);
        device.Tracker.Read(frozen: true, 0, map);
        Assert.Equal(model.Frozen, map);
    }

    private void CheckEverything(List<TrackedDevice> devices, List<DeviceModel> models)
    {
        for (var i = 0; i < devices.Count; i++)
        {
            AssertSame(models[i].Original, ImageReader.ReadAll(devices[i]), $"{models[i].Name} original", 0);
            if (models[i].Image is not null)
                CheckImage(devices[i], models[i], 0, (int)devices[i].Capacity);
        }
    }

    private static void AssertSame(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, string what, long offset)
    {
        var at = expected.CommonPrefixLength(actual);
        if (at < expected.Length || expected.Length != actual.Length)
            Assert.Fail($"{what} differs at byte {offset + at} (expected {(at < expected.Length ? expected[at] : -1)}, got {(at < actual.Length ? actual[at] : -1)})");
    }
}
