using System.Diagnostics;
using BlkSnapFs.Bench;

// Engine throughput and memory, each figure beside the raw file's in the same run.
// Usage: BlkSnapFs.Bench [--size-mib N] [--runs N] [--dir PATH]
var clock = Stopwatch.StartNew();
var options = BenchOptions.Parse(args);
Console.WriteLine($"engine bench: {options.SizeMiB} MiB device in {options.Directory}, {options.Runs} runs, median (min-max)");
var results = new EngineBench(options).Run();
foreach (var line in results)
    Console.WriteLine(line);
Console.WriteLine($"done in {clock.Elapsed.TotalSeconds:F0} s");
