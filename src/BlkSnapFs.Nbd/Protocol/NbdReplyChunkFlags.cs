namespace BlkSnapFs.Nbd.Protocol;

/// <summary>Flags of a structured reply chunk.</summary>
[Flags]
internal enum NbdReplyChunkFlags : ushort
{
    None = 0,
    Done = 1 << 0,
}
