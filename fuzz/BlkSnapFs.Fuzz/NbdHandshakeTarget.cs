using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Fuzz;

/// <summary>
/// The handshake and option haggling (NbdHandshake, OptionDataReader): the input is everything a client
/// sends after the server's greeting, flags first. Documented outcomes: a negotiated export, an option
/// error reply, or a hang-up (bad magic, an option too long, end of input: IOException inside the
/// server, logged). A crash is an "unexpected failure" the connection logs, or a backend call the
/// guard rejects; a hang is a connection that does not close once the input has ended.
/// </summary>
internal sealed class NbdHandshakeTarget : FuzzTarget
{
    private readonly NbdFuzzServer _server = new();

    public override string Name => "nbd-handshake";

    public override void Start() => _server.Start();

    public override void Run(byte[] input) => _server.Exchange(input);

    public override IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        yield return ("go-structured", [
            .. NbdWire.ClientFlags(),
            .. NbdWire.Option(NbdOption.StructuredReply),
            .. NbdWire.MetaContext(NbdOption.ListMetaContext, "disk"),
            .. NbdWire.MetaContext(NbdOption.SetMetaContext, "disk", "base:allocation"),
            .. NbdWire.InfoOrGo(NbdOption.Go, "disk", NbdInfoType.Name, NbdInfoType.Description, NbdInfoType.BlockSize),
        ]);
        yield return ("list-info-abort", [
            .. NbdWire.ClientFlags(noZeroes: false),
            .. NbdWire.Option(NbdOption.List),
            .. NbdWire.InfoOrGo(NbdOption.Info, "ro", NbdInfoType.BlockSize),
            .. NbdWire.InfoOrGo(NbdOption.Info, "missing"),
            .. NbdWire.MetaContext(NbdOption.ListMetaContext, "disk", "base:"),
            .. NbdWire.Option(NbdOption.StartTls),
            .. NbdWire.Option(NbdOption.Abort),
        ]);
        yield return ("export-name", [.. NbdWire.ClientFlags(noZeroes: false), .. NbdWire.Option(NbdOption.ExportName, "disk"u8)]);
    }
}
