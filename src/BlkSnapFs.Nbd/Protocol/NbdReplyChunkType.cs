namespace BlkSnapFs.Nbd.Protocol;

/// <summary>Chunk types of structured replies; values with bit 15 set are errors.</summary>
internal enum NbdReplyChunkType : ushort
{
    None = 0,
    OffsetData = 1,
    OffsetHole = 2,
    BlockStatus = 5,
    Error = (1 << 15) + 1,
    ErrorOffset = (1 << 15) + 2,
}
