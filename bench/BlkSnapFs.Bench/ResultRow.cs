using System.Globalization;

namespace BlkSnapFs.Bench;

/// <summary>
/// One line of the bench's results.tsv; the columns are the ones bench/peers/run.sh records and
/// bench/README.md describes, so the peer bench appends these lines as they are.
/// </summary>
internal sealed record ResultRow(int DeviceMiB, string Peer, string Metric, int Run, double Value, string Unit)
{
    public const string Experiment = "engine";
    public const string Header = "experiment\tdevice_mib\tpeer\tmetric\trun\tvalue\tunit\tnote";

    public string ToTsv() =>
        string.Join('\t', Experiment, DeviceMiB.ToString(CultureInfo.InvariantCulture), Peer, Metric,
            Run.ToString(CultureInfo.InvariantCulture), Value.ToString("0.###", CultureInfo.InvariantCulture), Unit, "");
}
