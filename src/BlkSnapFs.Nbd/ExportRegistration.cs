namespace BlkSnapFs.Nbd;

/// <summary>An export being served and the connections in transmission on it.</summary>
internal sealed class ExportRegistration(NbdExport export)
{
    private readonly Lock _gate = new();
    private readonly HashSet<NbdConnection> _connections = [];
    private bool _removed;

    public NbdExport Export { get; } = export;

    /// <summary>False once the export has been removed, so late handshakes are refused.</summary>
    public bool TryAttach(NbdConnection connection)
    {
        lock (_gate)
        {
            return !_removed && _connections.Add(connection);
        }
    }

    public void Detach(NbdConnection connection)
    {
        lock (_gate)
        {
            _connections.Remove(connection);
        }
    }

    /// <summary>Stops new attachments and returns the connections still attached.</summary>
    public NbdConnection[] MarkRemoved()
    {
        lock (_gate)
        {
            _removed = true;
            return [.. _connections];
        }
    }
}
