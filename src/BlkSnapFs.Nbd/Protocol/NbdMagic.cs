namespace BlkSnapFs.Nbd.Protocol;

/// <summary>Magic numbers that frame every NBD handshake and transmission message.</summary>
internal static class NbdMagic
{
    public const ulong InitPassword = 0x4e42444d41474943; // "NBDMAGIC"
    public const ulong HaveOption = 0x49484156454F5054; // "IHAVEOPT"
    public const ulong OptionReply = 0x0003e889045565a9;
    public const uint Request = 0x25609513;
    public const uint SimpleReply = 0x67446698;
    public const uint StructuredReply = 0x668e33ef;
}
