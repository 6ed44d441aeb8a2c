namespace BlkSnapFs.Tests;

/// <summary>fio, which the tests that need many requests in flight at once drive.</summary>
public static class Fio
{
    private const string Installed = "/usr/bin/fio";

    /// <summary>fio's path; the test fails, naming the package, where it is missing.</summary>
    public static string Path
    {
        get
        {
            Xunit.Assert.True(File.Exists(Installed), $"{Installed} is not installed: apt-get install -y fio");
            return Installed;
        }
    }
}
