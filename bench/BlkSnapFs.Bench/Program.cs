using System.Diagnostics;
using BlkSnapFs.Bench;

// Engine throughput and memory, each figure beside the raw file's in the same run, as results.tsv lines on stdout.
// Usage: BlkSnapFs.Bench [--size-mib N] [--runs N] [--dir PATH]
var clock = Stopwatch.StartNew();
var options = BenchOptions.Parse(args);
Console.Error.WriteLine($"engine bench: {options.SizeMiB} MiB device in {options.Directory}, {options.Runs} runs");
var rows = new EngineBench(options).Run();
Console.WriteLine(ResultRow.Header);
foreach (var row in rows)
    Console.WriteLine(row.ToTsv());
Console.Error.WriteLine($"done in {clock.Elapsed.TotalSeconds:F0} s");
