namespace BlkSnapFs.Nbd.Protocol;

/// <summary>Flags the server sends right after the handshake magic.</summary>
[Flags]
internal enum NbdHandshakeFlags : ushort
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}
