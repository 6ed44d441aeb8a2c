namespace BlkSnapFs.Daemon.Tests;

/// <summary>
/// The process umask set for a test and put back after. It is process-wide, so the tests that set it are in
/// <see cref="UmaskCollection"/>, which runs alone.
/// </summary>
public sealed class Umask : IDisposable
{
    private readonly uint _previous;

    private Umask(uint mask) => _previous = ProcessCalls.umask(mask);

    public static Umask Set(uint mask) => new(mask);

    public void Dispose() => ProcessCalls.umask(_previous);
}

[CollectionDefinition(nameof(UmaskCollection), DisableParallelization = true)]
public sealed class UmaskCollection;
