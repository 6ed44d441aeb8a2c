using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace BlkSnapFs.Cli;

/// <summary>
/// <c>blksnap backup</c>: a full or incremental backup of a device's taken snapshot, as qcow2
/// (made by qemu's tools) or sparse raw, written under a temporary name and renamed when whole,
/// its record (<see cref="BackupRecord"/>) beside it last.
/// </summary>
internal static class BackupCommand
{
    public static Command Create()
    {
        var device = CommandTree.Device("Device whose taken snapshot to back up: its path, or its name in the mount.");
        var output = new Option<string>("--output", "-o") { Description = "The backup file to write.", HelpName = "FILE", Required = true };
        var basePath = new Option<string>("--base", "-b")
        {
            Description = "An earlier backup of the device: write only what changed since it (a qcow2 overlay on it, or an updated raw copy).",
            HelpName = "PREVIOUS",
        };
        var format = new Option<string>("--format", "-F") { Description = "qcow2 (the default unless FILE ends in .raw or .img) or raw.", HelpName = "raw|qcow2" };
        format.AcceptOnlyFromAmong("raw", "qcow2");
        var from = new Option<string>("--from")
        {
            Description = "Read the image from this NBD image export (nbd+unix:///NAME?socket=PATH or nbd://HOST/NAME) instead of the local image.",
            HelpName = "URI",
        };
        var verify = new Option<bool>("--verify") { Description = "Compare the backup with the image (qemu-img compare) before keeping it." };

        var command = new Command("backup", "Back up a device's taken snapshot: the whole image, or with --base only the blocks changed since PREVIOUS.")
        {
            device, output, basePath, format, from, verify,
        };
        command.SetAction(parsed =>
        {
            var file = Path.GetFullPath(parsed.GetRequiredValue(output));
            var request = new BackupRequest(parsed.GetRequiredValue(device), file,
                parsed.GetValue(basePath) is string b ? Path.GetFullPath(b) : null,
                parsed.GetValue(format) ?? (file.EndsWith(".raw", StringComparison.Ordinal) || file.EndsWith(".img", StringComparison.Ordinal) ? "raw" : "qcow2"),
                parsed.GetValue(from), parsed.GetValue(verify));
            using var client = ControlClient.Connect(ControlClient.ResolveSocketPath(parsed.GetValue(CommandTree.Socket)));
            return Run(request, BackupDevice.Query(client, request.Device), client, new OutputWriter(Console.Out, parsed.GetValue(CommandTree.Json)));
        });
        return command;
    }

    private sealed record BackupRequest(string Device, string File, string? Base, string Format, string? From, bool Verify);

    private static int Run(BackupRequest request, BackupDevice device, ControlClient client, OutputWriter output)
    {
        var previous = request.Base is null ? null : Previous(request, device);
        using IBackupSource source = request.From is null ? new ImageFileSource(device) : new NbdExportSource(device, request.From, previous?.ChangesNumber);
        var runs = previous is null ? [new ByteRun(0, device.Capacity)] : source.ChangedSince(previous.ChangesNumber);
        var total = runs.Sum(run => run.Length);

        var directory = Path.GetDirectoryName(request.File)!;
        var name = Path.GetFileName(request.File);
        var temporary = Path.Combine(directory, $".{name}.tmp-{Environment.ProcessId}");
        var sidecar = BackupRecord.SidecarOf(request.File);
        var sidecarTemporary = Path.Combine(directory, $".{name}{BackupRecord.Suffix}.tmp-{Environment.ProcessId}");

        using var cancel = new CancellationTokenSource();
        var signal = 0;
        void Interrupt(PosixSignalContext context)
        {
            context.Cancel = true;
            signal = context.Signal == PosixSignal.SIGTERM ? 15 : 2;
            cancel.Cancel();
        }

        using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
        var clock = Stopwatch.StartNew();
        var progress = BackupProgress.OnStandardError(total);
        var renamed = false;
        try
        {
            long read;
            long written;
            using (IBackupTarget target = request.Format == "qcow2"
                ? new Qcow2Target(temporary, device.Capacity, request.Base, previous?.Format)
                : new RawTarget(temporary, device.Capacity, request.Base))
            {
                cancel.Token.ThrowIfCancellationRequested();
                (read, written) = BackupCopy.Run(source, target, runs, progress, cancel.Token);
                target.Finish();
            }

            progress.Finish();
            cancel.Token.ThrowIfCancellationRequested();
            ThrowIfCorrupted(device, client);
            if (request.Verify)
            {
                Verify(temporary, request.Format, source.ImageForQemu);
            }

            // A stale record must never describe the new data, even for a moment.
            File.Delete(sidecar);
            File.Move(temporary, request.File, overwrite: true);
            renamed = true;
            using (var record = new FileStream(sidecarTemporary, FileMode.CreateNew, FileAccess.Write))
            {
                record.Write(System.Text.Encoding.UTF8.GetBytes(BackupRecord.Of(device, request.Format, request.Base).ToJson()));
                record.Flush(flushToDisk: true);
            }

            File.Move(sidecarTemporary, sidecar, overwrite: false);
            Report(output, request, BackupRuns.BlockCount(runs, device.BlockSize), read, written, clock.Elapsed);
            return 0;
        }
        catch (Exception ex) when (ex is CliException or IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            progress.Abandon();
            File.Delete(temporary);
            File.Delete(sidecarTemporary);
            if (renamed)
            {
                File.Delete(request.File);
            }

            if (cancel.IsCancellationRequested)
            {
                Console.Error.WriteLine(CliException.Describe(Errno.EINTR, $"the backup of {device.Name} was interrupted; nothing was kept"));
                return 128 + signal;
            }

            // A read that failed because the snapshot died says why in the snapshot's own words.
            if (ex is not CorruptedDuringBackup && CorruptionOrNone(device, client) is int errno)
            {
                throw new CorruptedDuringBackup(errno, device);
            }

            throw ex as CliException ?? CliException.FromFileError(ex, request.File);
        }
    }

    private static void ThrowIfCorrupted(BackupDevice device, ControlClient client)
    {
        if (device.CorruptionSince(client) is int errno)
        {
            throw new CorruptedDuringBackup(errno, device);
        }
    }

    /// <summary>The snapshot's corruption, or none when the daemon cannot say (the copy's own error is then the news).</summary>
    private static int? CorruptionOrNone(BackupDevice device, ControlClient client)
    {
        try
        {
            return device.CorruptionSince(client);
        }
        catch (Exception e) when (e is CliException or IOException)
        {
            return null;
        }
    }

    private sealed class CorruptedDuringBackup(int errno, BackupDevice device) : CliException(CliException.Describe(errno,
        $"the snapshot of {device.Name} was corrupted during the backup; nothing was kept: take a new snapshot and back up again"));

    /// <summary>The record of the base, once it says an incremental backup on it is possible.</summary>
    private static BackupRecord Previous(BackupRequest request, BackupDevice device)
    {
        var basePath = request.Base!;
        var refused = $"cannot make an incremental backup of {device.Name} on {basePath}";
        if (!File.Exists(basePath))
        {
            throw new CliException(CliException.Describe(Errno.ENOENT, basePath));
        }

        if (basePath == request.File)
        {
            throw new CliException($"{refused}: it is the output file; give another");
        }

        var previous = BackupRecord.ReadFor(basePath)
            ?? throw new CliException($"{refused}: it has no {Path.GetFileName(BackupRecord.SidecarOf(basePath))} (an unfinished or foreign file); a full backup is needed");
        if (previous.RefusalFor(device) is string reason)
        {
            throw new CliException($"{refused}: {reason}; a full backup is needed");
        }

        if (request.Format == "raw" && previous.Format != "raw")
        {
            throw new CliException($"{refused}: a raw incremental updates a copy of a raw base, and it is {previous.Format}");
        }

        return previous;
    }

    private static void Verify(string file, string format, string image)
    {
        (var exit, var message) = ExternalTool.Run("qemu-img", "compare", "-q", "-f", format, file, "-F", "raw", image);
        if (exit != 0)
        {
            throw new CliException(exit == 1
                ? CliException.Describe(Errno.EIO, $"the backup differs from the image {image}; removed it")
                : $"qemu-img compare failed (exit {exit}): {message}");
        }
    }

    private static void Report(OutputWriter output, BackupRequest request, long blocks, long read, long written, TimeSpan elapsed)
    {
        if (output.IsJson)
        {
            using var summary = JsonDocument.Parse(new System.Text.Json.Nodes.JsonObject
            {
                ["blocks_changed"] = blocks,
                ["bytes_read"] = read,
                ["bytes_written"] = written,
                ["seconds"] = Math.Round(elapsed.TotalSeconds, 3),
                ["file"] = request.File,
                ["base"] = request.Base,
                ["format"] = request.Format,
            }.ToJsonString());
            foreach (var property in summary.RootElement.EnumerateObject())
            {
                output.Field(property.Name, property.Value);
            }
        }
        else
        {
            output.TextLine(request.File);
        }

        output.Flush();
    }
}
