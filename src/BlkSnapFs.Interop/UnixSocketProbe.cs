using System.Net.Sockets;

namespace BlkSnapFs.Interop;

/// <summary>Whether a process listens on a Unix socket path: a connect succeeds only while one does.</summary>
public static class UnixSocketProbe
{
    public static bool IsServed(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
