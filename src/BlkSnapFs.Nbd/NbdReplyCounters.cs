namespace BlkSnapFs.Nbd;

/// <summary>How a server's replies reached their sockets, over all its connections.</summary>
public sealed class NbdReplyCounters
{
    private long _sentByMaker;
    private long _finishedByWriter;
    private long _sentByWriter;

    /// <summary>Replies sent whole by the thread that made them: the socket took them at once.</summary>
    public long SentByMaker => Interlocked.Read(ref _sentByMaker);

    /// <summary>Replies begun by the thread that made them and finished by the writer thread once the socket had room.</summary>
    public long FinishedByWriter => Interlocked.Read(ref _finishedByWriter);

    /// <summary>Replies sent whole by the writer thread: the socket had no room, another reply was going out, or TLS.</summary>
    public long SentByWriter => Interlocked.Read(ref _sentByWriter);

    internal void CountSentByMaker() => Interlocked.Increment(ref _sentByMaker);

    internal void CountFinishedByWriter() => Interlocked.Increment(ref _finishedByWriter);

    internal void CountSentByWriter() => Interlocked.Increment(ref _sentByWriter);
}
