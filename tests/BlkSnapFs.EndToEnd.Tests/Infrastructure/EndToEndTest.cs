namespace BlkSnapFs.EndToEnd.Tests.Infrastructure;

/// <summary>Base of every test class: a fresh <see cref="TestMachine"/> per test, taken down after it even when it fails.</summary>
public abstract class EndToEndTest : IAsyncLifetime
{
    private TestMachine? _machine;

    protected TestMachine M => _machine ?? throw new InvalidOperationException("the test machine is not set up");

    public Task InitializeAsync()
    {
        _machine = TestMachine.Create(GetType().Name);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_machine is not null)
            await _machine.DisposeAsync();
    }
}
