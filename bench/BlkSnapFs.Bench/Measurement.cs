namespace BlkSnapFs.Bench;

/// <summary>Throughput samples of one workload of one peer, one per run.</summary>
internal sealed class Measurement(string peer, string metric)
{
    private readonly List<double> _samples = [];

    public void Add(long bytes, TimeSpan elapsed) => _samples.Add(bytes / 1048576.0 / elapsed.TotalSeconds);

    public IEnumerable<ResultRow> Rows(int deviceMiB) =>
        _samples.Select((value, i) => new ResultRow(deviceMiB, peer, metric, i + 1, Math.Round(value, 1), "MiB/s"));
}
