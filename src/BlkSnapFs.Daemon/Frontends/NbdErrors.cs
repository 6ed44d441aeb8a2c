using BlkSnapFs.Core;
using BlkSnapFs.Nbd;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>Engine errors as the NBD server reports them to clients.</summary>
internal static class NbdErrors
{
    public static void Run(Action body)
    {
        try
        {
            body();
        }
        catch (BlkSnapException e)
        {
            throw new NbdException(e.Errno, e.Message);
        }
    }
}
