namespace BlkSnapFs.Daemon.Tree;

/// <summary>A wake-up for whoever waits on a device's state: each Pulse completes the task handed out before it.</summary>
internal sealed class DeviceSignal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Next => Volatile.Read(ref _next).Task;

    public void Pulse() => Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
