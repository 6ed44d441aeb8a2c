namespace BlkSnapFs.Fuzz;

/// <summary>
/// One harness: what afl-fuzz's input is fed to, and the small valid inputs its corpus starts from.
/// <see cref="Run"/> returns for every input the code handled as documented and throws
/// <see cref="UnexpectedFailure"/> (or lets an undocumented exception escape) for a crash; a hang is
/// an input it does not return from within afl-fuzz's per-run timeout.
/// </summary>
internal abstract class FuzzTarget
{
    public abstract string Name { get; }

    /// <summary>Sets up what every run shares (servers, engines, temporary files); called once per process.</summary>
    public virtual void Start()
    {
    }

    public abstract void Run(byte[] input);

    /// <summary>The seed corpus: a file name and its contents for each.</summary>
    public abstract IEnumerable<(string Name, byte[] Input)> Seeds();

    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new NbdHandshakeTarget(),
        new NbdTransmissionTarget(),
        new FuseRequestTarget(),
        new ControlTarget(),
        new ConfigTarget(),
    ];
}
