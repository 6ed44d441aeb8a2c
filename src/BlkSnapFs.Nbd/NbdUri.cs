using System.Net;
using System.Net.Sockets;

namespace BlkSnapFs.Nbd;

/// <summary>
/// The NBD URI forms the tools share (nbd_uri.md): <c>nbd+unix:///EXPORT?socket=PATH</c> and
/// <c>nbd://HOST[:PORT]/EXPORT</c>; no TLS.
/// </summary>
public sealed record NbdUri(EndPoint EndPoint, string ExportName)
{
    public const int DefaultPort = 10809;

    public static NbdUri Parse(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri))
        {
            throw new NbdException(Errno.EINVAL, $"not a URI: {text}");
        }

        var exportName = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        switch (uri.Scheme)
        {
            case "nbd+unix":
                var socket = uri.Query.TrimStart('?').Split('&').Select(Uri.UnescapeDataString)
                    .FirstOrDefault(p => p.StartsWith("socket=", StringComparison.Ordinal))?["socket=".Length..];
                return string.IsNullOrEmpty(socket)
                    ? throw new NbdException(Errno.EINVAL, $"nbd+unix URI without ?socket=: {text}")
                    : new NbdUri(new UnixDomainSocketEndPoint(socket), exportName);
            case "nbd":
                var port = uri.IsDefaultPort || uri.Port < 0 ? DefaultPort : uri.Port;
                return new NbdUri(IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address)
                    ? new IPEndPoint(address, port)
                    : new DnsEndPoint(uri.Host, port), exportName);
            default:
                throw new NbdException(Errno.EINVAL, $"not an nbd:// or nbd+unix:// URI: {text}");
        }
    }
}
