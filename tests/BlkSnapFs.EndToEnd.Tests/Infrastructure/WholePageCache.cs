namespace BlkSnapFs.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The classes that drop the whole machine's page cache (drop_caches, as upstream's tests do) or count what
/// it holds of their files. They run alone: the CI run of stop 27 (18adb50) failed when TakeFreezeTests dropped the caches
/// while ImagePageCacheTests counted its 8 MiB working set ("Expected: 8, Actual: 0"), and a loop writing
/// drop_caches every 50 ms beside that test failed it 5 runs of 5.
/// </summary>
[CollectionDefinition(nameof(WholePageCache), DisableParallelization = true)]
public sealed class WholePageCache;
