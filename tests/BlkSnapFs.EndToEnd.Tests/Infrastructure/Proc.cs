namespace BlkSnapFs.EndToEnd.Tests.Infrastructure;

/// <summary>Runs programs for the end-to-end tests with only the BLKSNAPFS_ variables a test sets.</summary>
public static class Proc
{
    /// <summary>
    /// The daemon reads every BLKSNAPFS_ variable as configuration and stops at unknown ones
    /// (BLKSNAPFS_BIN, which the Makefile sets for us, among them): the programs under test
    /// get only the variables a test sets.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, string?>> Environment(IReadOnlyDictionary<string, string>? env) =>
        System.Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Where(k => k.StartsWith("BLKSNAPFS_", StringComparison.Ordinal))
            .Select(k => new KeyValuePair<string, string?>(k, null))
            .Concat((env ?? new Dictionary<string, string>()).Select(kv => new KeyValuePair<string, string?>(kv.Key, kv.Value)));

    public static Task<ProcessResult> RunAsync(string file, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null,
        TimeSpan? timeout = null, string? stdin = null) =>
        TestProcess.RunAsync(file, args, Environment(env), timeout, stdin);
}
