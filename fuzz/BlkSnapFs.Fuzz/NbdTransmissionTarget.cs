using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Fuzz;

/// <summary>
/// The transmission phase (NbdConnection, NbdRequest, the reply encoder, the file backend): the first
/// input byte picks one of a few fixed valid handshakes, the rest is the request stream. Documented
/// outcomes: a reply per request (an NBD error for a bad one) and a hang-up on bad magic, an oversized
/// write or the end of input. A crash is an "unexpected failure" or "request failed unexpectedly" the
/// server logs, or the backend seeing an out-of-range request or failing other than with an IOException;
/// a hang is a connection that does not close once the input has ended.
/// </summary>
internal sealed class NbdTransmissionTarget : FuzzTarget
{
    private static readonly byte[][] Handshakes =
    [
        // Structured replies with base:allocation selected: block status works.
        [
            .. NbdWire.ClientFlags(),
            .. NbdWire.Option(NbdOption.StructuredReply),
            .. NbdWire.MetaContext(NbdOption.SetMetaContext, "disk", "base:allocation"),
            .. NbdWire.InfoOrGo(NbdOption.Go, "disk"),
        ],
        // The oldest way in: simple replies only.
        [.. NbdWire.ClientFlags(), .. NbdWire.Option(NbdOption.ExportName, "disk"u8)],
        // Read-only with a 512-byte minimum block: alignment and permission checks.
        [.. NbdWire.ClientFlags(), .. NbdWire.Option(NbdOption.StructuredReply), .. NbdWire.InfoOrGo(NbdOption.Go, "ro")],
    ];

    private readonly NbdFuzzServer _server = new();

    public override string Name => "nbd-transmission";

    public override void Start() => _server.Start();

    public override void Run(byte[] input)
    {
        if (input.Length == 0)
        {
            return;
        }

        byte[] connection = [.. Handshakes[input[0] % Handshakes.Length], .. input.AsSpan(1)];
        _server.Exchange(connection);
    }

    public override IEnumerable<(string Name, byte[] Input)> Seeds()
    {
        const ulong Last = NbdFuzzServer.DiskSize - 4096;
        byte[] everyCommand =
        [
            .. NbdWire.Request(NbdCommand.Write, 0, 512, NbdCommandFlags.Fua, cookie: 1),
            .. NbdWire.Request(NbdCommand.Read, 0, 4096, cookie: 2),
            .. NbdWire.Request(NbdCommand.Flush, 0, 0, cookie: 3),
            .. NbdWire.Request(NbdCommand.Trim, 8192, 4096, cookie: 4),
            .. NbdWire.Request(NbdCommand.WriteZeroes, 16384, 4096, NbdCommandFlags.NoHole, cookie: 5),
            .. NbdWire.Request(NbdCommand.Cache, 0, 65536, cookie: 6),
            .. NbdWire.Request(NbdCommand.BlockStatus, 0, (uint)NbdFuzzServer.DiskSize, cookie: 7),
            .. NbdWire.Request(NbdCommand.BlockStatus, 4096, 4096, NbdCommandFlags.RequestOne, cookie: 8),
            .. NbdWire.Request(NbdCommand.Read, Last, 8192, cookie: 9),
            .. NbdWire.Request(NbdCommand.Disconnect, 0, 0, cookie: 10),
        ];
        yield return ("structured", [0, .. everyCommand]);
        yield return ("simple", [1, .. everyCommand]);
        yield return ("read-only", [
            2,
            .. NbdWire.Request(NbdCommand.Read, 512, 1024, cookie: 1),
            .. NbdWire.Request(NbdCommand.Read, 1, 512, cookie: 2),
            .. NbdWire.Request(NbdCommand.Write, 0, 512, cookie: 3),
            .. NbdWire.Request(NbdCommand.Cache, 0, 4096, cookie: 4),
        ]);
    }
}
