using BlkSnapFs.Core;
using BlkSnapFs.Nbd;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// Engine errors as the NBD server reports them to clients. Reads and writes, whose spans cannot
/// enter a lambda, catch and convert with <see cref="From"/>; the rest go through <see cref="Run"/>.
/// </summary>
internal static class NbdErrors
{
    public static NbdException From(BlkSnapException e) => new(e.Errno, e.Message);

    public static void Run(Action body)
    {
        try
        {
            body();
        }
        catch (BlkSnapException e)
        {
            throw From(e);
        }
    }
}
