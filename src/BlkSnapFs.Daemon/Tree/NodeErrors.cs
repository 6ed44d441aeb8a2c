namespace BlkSnapFs.Daemon.Tree;

/// <summary>Turns engine failures into the negative errnos file nodes return.</summary>
internal static class NodeErrors
{
    public static int Of(Exception e) => -Errno.Of(e);

    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e)
        {
            return Of(e);
        }
    }
}
