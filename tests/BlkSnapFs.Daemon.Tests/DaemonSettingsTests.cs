using BlkSnapFs.Core;
using Microsoft.Extensions.Configuration;

namespace BlkSnapFs.Daemon.Tests;

/// <summary>Keys, bad values, the upstream module's parameter names, the take settings and the state directory.</summary>
public class DaemonSettingsTests
{
    private static DaemonSettings Load(params (string Key, string Value)[] overrides) =>
        DaemonSettings.Load(null, overrides.ToDictionary(o => o.Key, o => o.Value));

    private static int ErrnoOf(Action load) => Assert.Throws<BlkSnapException>(load).Errno;

    [Fact]
    public void DefaultsFreezeAtTakeWithAThirtySecondDeadline()
    {
        var settings = DaemonSettings.From(new ConfigurationBuilder().Build());
        Assert.True(settings.TakeFreeze);
        Assert.Equal(30, settings.TakeFreezeTimeoutSeconds);
    }

    [Fact]
    public void StateDirectoryDefaultsToVarLibEmptyKeepsTrackingInMemoryRelativeIsMadeAbsolute()
    {
        Assert.Equal("/var/lib/blksnapfs", DaemonSettings.From(new ConfigurationBuilder().Build()).StateDirectory);
        Assert.Null(Load(("StateDirectory", "")).StateDirectory);
        Assert.Equal(Path.GetFullPath("state"), Load(("StateDirectory", "state")).StateDirectory);
    }

    [Fact]
    public void NbdTimeoutsDefaultToThirtyAndSixtyAreRead()
    {
        var defaults = DaemonSettings.From(new ConfigurationBuilder().Build());
        Assert.Equal((30, 60), (defaults.NbdTimeoutSeconds, defaults.NbdReconnectTimeoutSeconds));
        var set = Load(("Nbd:TimeoutSeconds", "5"), ("Nbd:ReconnectTimeoutSeconds", "7"));
        Assert.Equal((5, 7), (set.NbdTimeoutSeconds, set.NbdReconnectTimeoutSeconds));
        Assert.Equal(Errno.ERANGE, ErrnoOf(() => Load(("Nbd:ReconnectTimeoutSeconds", "0"))));
    }

    [Fact]
    public void TakeSettingsAreRead()
    {
        var settings = Load(("Take:Freeze", "false"), ("Take:FreezeTimeoutSeconds", "5"));
        Assert.False(settings.TakeFreeze);
        Assert.Equal(5, settings.TakeFreezeTimeoutSeconds);
    }

    [Theory]
    [InlineData("Take:Freeze", "maybe")]
    [InlineData("Take:FreezeTimeoutSeconds", "ten")]
    [InlineData("Take:Thaw", "true")]
    public void BadTakeValuesAndUnknownKeysStopTheStartWithEinval(string key, string value) =>
        Assert.Equal(Errno.EINVAL, ErrnoOf(() => Load((key, value))));

    [Theory]
    [InlineData("tracking_block_minimum_shift", "12")]
    [InlineData("tracking_block_maximum_shift", "20")]
    [InlineData("tracking_block_maximum_count", "4096")]
    [InlineData("chunk_minimum_shift", "13")]
    [InlineData("chunk_maximum_shift", "22")]
    [InlineData("chunk_maximum_count", "4096")]
    [InlineData("chunk_maximum_in_queue", "9")]
    [InlineData("diff_storage_minimum", "65536")]
    public void EachModuleParameterSetsItsSetting(string parameter, string value)
    {
        var engine = Load((parameter, value)).Engine;
        var actual = parameter switch
        {
            "tracking_block_minimum_shift" => engine.Tracking.BlockMinimumShift,
            "tracking_block_maximum_shift" => engine.Tracking.BlockMaximumShift,
            "tracking_block_maximum_count" => engine.Tracking.BlockMaximumCount,
            "chunk_minimum_shift" => engine.Chunk.MinimumShift,
            "chunk_maximum_shift" => engine.Chunk.MaximumShift,
            "chunk_maximum_count" => engine.Chunk.MaximumCount,
            "chunk_maximum_in_queue" => engine.Chunk.MaximumInQueue,
            _ => engine.DiffStorage.MinimumSectors,
        };
        Assert.Equal(long.Parse(value, System.Globalization.CultureInfo.InvariantCulture), actual);
        Assert.Contains(parameter, DaemonSettings.UpstreamParameters.Keys);
    }

    [Fact]
    public void TheBufferPoolParameterIsAcceptedWithAWarning()
    {
        var settings = Load(("free_diff_buffer_pool_size", "128"));
        Assert.Contains(settings.Warnings, w => w.StartsWith("free_diff_buffer_pool_size=128:", StringComparison.Ordinal));
    }

    [Fact]
    public void EveryModuleParameterIsMapped() =>
        Assert.Equal(
            ["chunk_maximum_count", "chunk_maximum_in_queue", "chunk_maximum_shift", "chunk_minimum_shift", "diff_storage_minimum",
             "free_diff_buffer_pool_size", "tracking_block_maximum_count", "tracking_block_maximum_shift", "tracking_block_minimum_shift"],
            DaemonSettings.UpstreamParameters.Keys.Order(StringComparer.Ordinal));
}
