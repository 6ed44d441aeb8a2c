namespace BlkSnapFs.EndToEnd.Tests.Infrastructure;

/// <summary>
/// The classes that drop the whole machine's page cache (drop_caches, as upstream's tests do) or count what
/// it holds of their files. They run alone. The CI run of stop 27 (18adb50) failed with ImagePageCacheTests'
/// 8 MiB working set gone ("Expected: 8, Actual: 0"), as it is when the caches are dropped during its count:
/// loops writing drop_caches beside it (every 300 ms, or every 50 and every 300 ms) failed it 13 runs of 14.
/// </summary>
[CollectionDefinition(nameof(WholePageCache), DisableParallelization = true)]
public sealed class WholePageCache;
