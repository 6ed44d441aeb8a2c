namespace BlkSnapFs.Fuse.Tree;

/// <summary>poll(2) event bits a node reports as ready.</summary>
[Flags]
public enum PollEvents : uint
{
    None = 0,
    In = 0x001,
    Priority = 0x002,
    Out = 0x004,
    Error = 0x008,
    HangUp = 0x010,
}
