namespace BlkSnapFs.Tests;

/// <summary>The interpreter for the tests' Python snippets.</summary>
public static class SystemPython
{
    /// <summary>The system python3 when there is one: a version manager's shim (pyenv) takes about a second to start, and may lack the distribution's modules (nbd).</summary>
    public static string Path { get; } = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}
