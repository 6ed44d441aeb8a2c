namespace BlkSnapFs.Fuzz;

/// <summary>Undocumented failures seen during one run, from hooks on other threads; the run throws if any.</summary>
internal sealed class FailureLog
{
    private readonly Lock _gate = new();
    private readonly List<string> _failures = [];

    public void Add(string failure)
    {
        lock (_gate)
        {
            _failures.Add(failure);
        }
    }

    /// <summary>Records <paramref name="exception"/> unless it is an IOException (the documented kind); always false, for use in a filter.</summary>
    public bool Unexpected(Exception exception)
    {
        if (exception is not IOException)
        {
            Add(exception.ToString());
        }

        return false;
    }

    /// <summary>Throws <see cref="UnexpectedFailure"/> naming what was recorded since the last call, then forgets it.</summary>
    public void ThrowIfAny()
    {
        string[] failures;
        lock (_gate)
        {
            failures = [.. _failures];
            _failures.Clear();
        }

        if (failures.Length > 0)
        {
            throw new UnexpectedFailure(string.Join(Environment.NewLine, failures));
        }
    }
}
