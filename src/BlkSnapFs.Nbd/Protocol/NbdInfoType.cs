namespace BlkSnapFs.Nbd.Protocol;

/// <summary>Information items of NBD_OPT_INFO and NBD_OPT_GO.</summary>
internal enum NbdInfoType : ushort
{
    Export = 0,
    Name = 1,
    Description = 2,
    BlockSize = 3,
}
