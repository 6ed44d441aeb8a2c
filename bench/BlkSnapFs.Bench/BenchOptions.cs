namespace BlkSnapFs.Bench;

internal sealed record BenchOptions(int SizeMiB, int Runs, string Directory)
{
    public static BenchOptions Parse(string[] args)
    {
        var size = 1024;
        var runs = 3;
        var dir = "/var/tmp";
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--size-mib": size = int.Parse(args[i + 1]); break;
                case "--runs": runs = int.Parse(args[i + 1]); break;
                case "--dir": dir = args[i + 1]; break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        return new BenchOptions(size, runs, dir);
    }
}
