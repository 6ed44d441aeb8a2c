using BlkSnapFs.Nbd;

namespace BlkSnapFs.Cli;

/// <summary>NBD failures as the tool's one-line errors, named by their errno.</summary>
internal static class NbdErrors
{
    public static CliException Describe(NbdException error, string where) => new(CliException.Describe(error.Errno, $"{where}: {error.Message}"));

    public static T Call<T>(Func<T> call, string where)
    {
        try
        {
            return call();
        }
        catch (NbdException ex)
        {
            throw Describe(ex, where);
        }
    }
}
