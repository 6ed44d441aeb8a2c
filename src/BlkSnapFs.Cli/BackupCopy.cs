namespace BlkSnapFs.Cli;

/// <summary>
/// Copies runs of the image into a target, a piece at a time: all-zero stretches go as zeroes
/// (or not at all into a target that starts empty), so zeroed and discarded blocks never become data.
/// </summary>
internal static class BackupCopy
{
    public const int PieceSize = 1024 * 1024;

    /// <summary>Granularity of the zero test: a piece that is partly zero still leaves holes.</summary>
    private const int ZeroTestSize = 64 * 1024;

    public static (long Read, long Written) Run(IBackupSource source, IBackupTarget target, IReadOnlyList<ByteRun> runs,
        BackupProgress progress, CancellationToken cancel)
    {
        var buffer = new byte[PieceSize];
        long read = 0;
        long written = 0;
        foreach (var run in runs)
        {
            for (var offset = run.Offset; offset < run.End;)
            {
                cancel.ThrowIfCancellationRequested();
                var length = (int)Math.Min(PieceSize, run.End - offset);
                var piece = buffer.AsSpan(0, length);
                source.Read(offset, piece);
                read += length;
                written += WritePiece(target, offset, piece);
                offset += length;
                progress.Advance(length);
            }
        }

        return (read, written);
    }

    /// <summary>Writes the data stretches of a piece and zeroes the rest; returns the data bytes written.</summary>
    private static long WritePiece(IBackupTarget target, long offset, ReadOnlySpan<byte> piece)
    {
        long written = 0;
        for (var start = 0; start < piece.Length;)
        {
            var zero = IsZero(piece, start);
            var end = start;
            while (end < piece.Length && IsZero(piece, end) == zero)
            {
                end += Math.Min(ZeroTestSize, piece.Length - end);
            }

            if (!zero)
            {
                target.Write(offset + start, piece[start..end]);
                written += end - start;
            }
            else if (!target.StartsEmpty)
            {
                target.WriteZeroes(offset + start, end - start);
            }

            start = end;
        }

        return written;
    }

    private static bool IsZero(ReadOnlySpan<byte> piece, int start) =>
        !piece.Slice(start, Math.Min(ZeroTestSize, piece.Length - start)).ContainsAnyExcept((byte)0);
}
