namespace BlkSnapFs.Fuse;

/// <summary>How many of a session's request buffers mlock refused, of how many, and its errno for the first refusal.</summary>
public readonly record struct RequestBuffersNotLocked(int NotLocked, int Total, int Errno);
