namespace BlkSnapFs.Bench;

/// <summary>Throughput samples of one workload: median with the min-max spread as the machine's noise.</summary>
internal sealed class Measurement(string name)
{
    private readonly List<double> _samples = [];

    public string Name { get; } = name;
    public double Median => Sorted[Sorted.Count / 2];
    private List<double> Sorted => [.. _samples.Order()];

    public void Add(long bytes, TimeSpan elapsed) => _samples.Add(bytes / 1048576.0 / elapsed.TotalSeconds);

    public string Format(Measurement? baseline = null)
    {
        var ratio = baseline is null ? "" : $"  = {Median / baseline.Median:F2} x {baseline.Name}";
        return $"{Name,-34} {Median,9:F1} MiB/s ({Sorted[0]:F1}-{Sorted[^1]:F1}){ratio}";
    }
}
