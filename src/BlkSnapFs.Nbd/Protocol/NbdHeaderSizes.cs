namespace BlkSnapFs.Nbd.Protocol;

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
