namespace BlkSnapFs.Cli;

/// <summary>Paths go to a daemon with another working directory, so relative ones are resolved here.</summary>
internal static class Paths
{
    /// <summary>A device is a path, or a bare name the daemon knows from its mount; a bare name that exists here is a path.</summary>
    public static string Device(string device) =>
        device.Contains('/') || File.Exists(device) || Directory.Exists(device) ? Path.GetFullPath(device) : device;

    public static string Absolute(string path) => Path.GetFullPath(path);
}
