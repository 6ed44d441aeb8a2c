namespace BlkSnapFs.Daemon;

/// <summary>Nbd:Tls:Mode: whether clients of Nbd:TcpAddress must start TLS before anything else.</summary>
public enum NbdTlsMode
{
    Require,
    Off,
}
