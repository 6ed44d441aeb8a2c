namespace BlkSnapFs.Nbd.Protocol;

/// <summary>Flags the client answers the handshake flags with.</summary>
[Flags]
internal enum NbdClientFlags : uint
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}
