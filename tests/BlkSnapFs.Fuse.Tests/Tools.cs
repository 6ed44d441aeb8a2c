namespace BlkSnapFs.Fuse.Tests;

/// <summary>Runs the real command-line tools the tests exercise the mount with.</summary>
internal static class Tools
{
    /// <summary>Python defining attempt(action): prints OK or the errno name the action failed with.</summary>
    public const string ErrnoPrelude = """
        import errno, os, sys
        def attempt(action):
            try:
                action()
                print("OK")
            except OSError as error:
                print(errno.errorcode[error.errno])

        """;

    /// <summary>Runs a command to the end (killing it after <paramref name="timeout"/>, default 15 s).</summary>
    public static ProcessResult Run(string program, params string[] arguments) => RunWithin(TimeSpan.FromSeconds(15), program, arguments);

    public static ProcessResult RunWithin(TimeSpan timeout, string program, params string[] arguments)
    {
        var result = TestProcess.Run(program, arguments, timeout: timeout);
        if (result.TimedOut)
        {
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish within {timeout}");
        }

        return result;
    }

    /// <summary>Runs a Python snippet (for exact errno values and poll/select), passing <paramref name="arguments"/> as sys.argv[1:].</summary>
    public static ProcessResult Python(string script, params string[] arguments) => Run(SystemPython.Path, ["-c", script, .. arguments]);
}
