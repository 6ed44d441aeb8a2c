namespace BlkSnapFs.Nbd.Protocol;

// The NBD wire format (proto.md, fixed newstyle): the magic numbers, header sizes and the values
// of every field the handshake and the transmission phase exchange, in the order a connection meets them.

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

/// <summary>Fixed sizes of the wire headers.</summary>
internal static class NbdHeaderSizes
{
    public const int Request = 28;
    public const int SimpleReply = 16;
    public const int StructuredReply = 20;
    public const int OptionRequest = 16;
    public const int OptionReply = 20;

    /// <summary>Longest string (export name, description, query) the spec allows.</summary>
    public const int MaxString = 4096;
}

/// <summary>Flags the server sends right after the handshake magic.</summary>
[Flags]
internal enum NbdHandshakeFlags : ushort
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}

/// <summary>Flags the client answers the handshake flags with.</summary>
[Flags]
internal enum NbdClientFlags : uint
{
    None = 0,
    FixedNewstyle = 1 << 0,
    NoZeroes = 1 << 1,
}

/// <summary>Options a client may send during option haggling.</summary>
internal enum NbdOption : uint
{
    ExportName = 1,
    Abort = 2,
    List = 3,
    StartTls = 5,
    Info = 6,
    Go = 7,
    StructuredReply = 8,
    ListMetaContext = 9,
    SetMetaContext = 10,
}

/// <summary>Reply types of option haggling; values with bit 31 set are errors.</summary>
internal enum NbdOptionReplyType : uint
{
    Ack = 1,
    Server = 2,
    Info = 3,
    MetaContext = 4,
    ErrUnsupported = (1u << 31) + 1,
    ErrPolicy = (1u << 31) + 2,
    ErrInvalid = (1u << 31) + 3,
    ErrPlatform = (1u << 31) + 4,
    ErrTlsRequired = (1u << 31) + 5,
    ErrUnknown = (1u << 31) + 6,
    ErrShutdown = (1u << 31) + 7,
    ErrBlockSizeRequired = (1u << 31) + 8,
    ErrTooBig = (1u << 31) + 9,
}

/// <summary>Information items of NBD_OPT_INFO and NBD_OPT_GO.</summary>
internal enum NbdInfoType : ushort
{
    Export = 0,
    Name = 1,
    Description = 2,
    BlockSize = 3,
}

/// <summary>Per-export flags that tell the client which commands it may send.</summary>
[Flags]
internal enum NbdTransmissionFlags : ushort
{
    None = 0,
    HasFlags = 1 << 0,
    ReadOnly = 1 << 1,
    SendFlush = 1 << 2,
    SendFua = 1 << 3,
    Rotational = 1 << 4,
    SendTrim = 1 << 5,
    SendWriteZeroes = 1 << 6,
    SendDf = 1 << 7,
    CanMultiConn = 1 << 8,
    SendResize = 1 << 9,
    SendCache = 1 << 10,
    SendFastZero = 1 << 11,
}

/// <summary>Transmission-phase request types.</summary>
internal enum NbdCommand : ushort
{
    Read = 0,
    Write = 1,
    Disconnect = 2,
    Flush = 3,
    Trim = 4,
    Cache = 5,
    WriteZeroes = 6,
    BlockStatus = 7,
}

/// <summary>Per-request flags.</summary>
[Flags]
internal enum NbdCommandFlags : ushort
{
    None = 0,
    Fua = 1 << 0,
    NoHole = 1 << 1,
    DontFragment = 1 << 2,
    RequestOne = 1 << 3,
    FastZero = 1 << 4,
}

/// <summary>The error values the protocol allows in a reply.</summary>
internal enum NbdError : uint
{
    None = 0,
    NotPermitted = 1,
    IoError = 5,
    OutOfMemory = 12,
    InvalidArgument = 22,
    NoSpace = 28,
    Overflow = 75,
    NotSupported = 95,
    Shutdown = 108,
}

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

/// <summary>Flags of a structured reply chunk.</summary>
[Flags]
internal enum NbdReplyChunkFlags : ushort
{
    None = 0,
    Done = 1 << 0,
}
