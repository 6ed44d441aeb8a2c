namespace BlkSnapFs.Fuse.Protocol;

/// <summary>Which requests the kernel waits an answer for: the one rule every reply goes through.</summary>
internal static class FuseOpcodeReplies
{
    /// <summary>
    /// False for FORGET and BATCH_FORGET (the kernel waits for nothing), INTERRUPT (its only answers,
    /// ENOSYS and EAGAIN, would switch interrupts off or repeat them) and NOTIFY_REPLY (itself an answer).
    /// </summary>
    public static bool ExpectsReply(this FuseOpcode opcode) =>
        opcode is not (FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.Interrupt or FuseOpcode.NotifyReply);
}
