using BlkSnapFs.Fuzz;
using SharpFuzz;

// blksnapfs-fuzz TARGET            run under afl-fuzz (input on stdin, out of process so a hang or a
//                                  crash of the runtime costs only a restart of the child)
// blksnapfs-fuzz TARGET FILE...    run each file once and say which ones crash (replaying findings)
// blksnapfs-fuzz seed TARGET DIR   write the target's seed corpus into DIR
if (args.Length == 0)
{
    Console.Error.WriteLine($"usage: BlkSnapFs.Fuzz TARGET [FILE...] | seed TARGET DIR; targets: {string.Join(", ", FuzzTarget.All.Select(t => t.Name))}");
    return 2;
}

if (args[0] == "seed" && args.Length == 3)
{
    var directory = Directory.CreateDirectory(args[2]);
    foreach (var (name, input) in Find(args[1]).Seeds())
    {
        File.WriteAllBytes(Path.Combine(directory.FullName, name), input);
    }

    return 0;
}

var target = Find(args[0]);
if (args.Length == 1)
{
    // Started on the first run, in the child that runs the inputs (the parent only relays to afl-fuzz).
    var started = false;
    Fuzzer.OutOfProcess.Run(stream =>
    {
        if (!started)
        {
            target.Start();
            started = true;
        }

        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        target.Run(memory.ToArray());
    });
    return 0;
}

// The paths before Start: a target may change the working directory. Instrumented assemblies write
// coverage to SharpFuzz's map, which only afl-fuzz sets up: give them one to write to.
var files = args[1..].Select(Path.GetFullPath).ToList();
unsafe
{
    SharpFuzz.Common.Trace.SharedMem = (byte*)System.Runtime.InteropServices.NativeMemory.AllocZeroed(1 << 16);
}

target.Start();
var crashed = 0;
foreach (var file in files)
{
    try
    {
        target.Run(File.ReadAllBytes(file));
        Console.WriteLine($"ok     {file}");
    }
    catch (Exception exception)
    {
        crashed++;
        Console.WriteLine($"CRASH  {file}: {exception}");
    }
}

return crashed == 0 ? 0 : 1;

static FuzzTarget Find(string name) =>
    FuzzTarget.All.FirstOrDefault(t => t.Name == name)
    ?? throw new ArgumentException($"no fuzz target '{name}'; targets: {string.Join(", ", FuzzTarget.All.Select(t => t.Name))}");
