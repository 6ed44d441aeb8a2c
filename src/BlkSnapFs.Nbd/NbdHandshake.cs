using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>
/// The fixed newstyle handshake and option haggling of one connection. Ends with what was negotiated, or
/// null when the client aborted or broke the protocol so badly that the server hangs up.
/// With <paramref name="tls"/> the connection must first upgrade with NBD_OPT_STARTTLS (FORCEDTLS).
/// </summary>
internal sealed class NbdHandshake(NbdTransport transport, ExportDirectory exports, uint maximumPayload, TlsAcceptor? tls, Action<string>? log)
{
    /// <summary>Options longer than this are not read into memory; the server hangs up instead.</summary>
    private const int MaximumOptionLength = 64 * 1024;

    private bool _noZeroes;
    private bool _structuredReplies;
    private ExportRegistration? _metaContextExport;
    private IReadOnlyList<INbdMetaContext> _selectedContexts = [];

    public NbdNegotiation? Negotiate()
    {
        Span<byte> greeting = stackalloc byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdMagic.InitPassword);
        BinaryPrimitives.WriteUInt64BigEndian(greeting[8..], NbdMagic.HaveOption);
        BinaryPrimitives.WriteUInt16BigEndian(greeting[16..], (ushort)(NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes));
        transport.SendAll(greeting);

        Span<byte> clientFlagBytes = stackalloc byte[4];
        transport.ReceiveExactly(clientFlagBytes);
        var clientFlags = (NbdClientFlags)BinaryPrimitives.ReadUInt32BigEndian(clientFlagBytes);
        if ((clientFlags & ~(NbdClientFlags.FixedNewstyle | NbdClientFlags.NoZeroes)) != 0)
        {
            log?.Invoke($"nbd: client sent unknown handshake flags 0x{(uint)clientFlags:x}; closing");
            return null;
        }

        _noZeroes = clientFlags.HasFlag(NbdClientFlags.NoZeroes);
        Span<byte> header = stackalloc byte[NbdHeaderSizes.OptionRequest];
        while (true)
        {
            transport.ReceiveExactly(header);
            if (BinaryPrimitives.ReadUInt64BigEndian(header) != NbdMagic.HaveOption)
            {
                log?.Invoke("nbd: bad option magic; closing");
                return null;
            }

            var option = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(header[8..]);
            var length = BinaryPrimitives.ReadUInt32BigEndian(header[12..]);
            if (length > MaximumOptionLength)
            {
                log?.Invoke($"nbd: option {option} of {length} bytes is too long; closing");
                return null;
            }

            var data = new byte[length];
            transport.ReceiveExactly(data);
            var outcome = HandleOption(option, data);
            if (outcome.Finished)
            {
                return outcome.Negotiated;
            }
        }
    }

    private (bool Finished, NbdNegotiation? Negotiated) HandleOption(NbdOption option, byte[] data)
    {
        if (tls is not null && !transport.IsTls && option is not (NbdOption.StartTls or NbdOption.Abort))
        {
            if (option == NbdOption.ExportName)
            {
                // It has no error reply: hanging up is the only refusal.
                log?.Invoke("nbd: NBD_OPT_EXPORT_NAME before TLS; closing");
                return (true, null);
            }

            SendError(option, NbdOptionReplyType.ErrTlsRequired, "TLS is required: send NBD_OPT_STARTTLS first");
            return (false, null);
        }

        switch (option)
        {
            case NbdOption.StartTls:
                return StartTls(data) ? (false, null) : (true, null);
            case NbdOption.ExportName:
                return (true, HandleExportName(data));
            case NbdOption.Abort:
                SendReply(option, NbdOptionReplyType.Ack);
                return (true, null);
            case NbdOption.List:
                HandleList(data);
                return (false, null);
            case NbdOption.Info:
            case NbdOption.Go:
                var negotiated = HandleInfoOrGo(option, data);
                return (negotiated is not null, negotiated);
            case NbdOption.StructuredReply:
                if (data.Length != 0)
                {
                    SendError(option, NbdOptionReplyType.ErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data");
                }
                else
                {
                    _structuredReplies = true;
                    SendReply(option, NbdOptionReplyType.Ack);
                }

                return (false, null);
            case NbdOption.ListMetaContext:
            case NbdOption.SetMetaContext:
                HandleMetaContext(option, data);
                return (false, null);
            default:
                SendError(option, NbdOptionReplyType.ErrUnsupported, "option not supported");
                return (false, null);
        }
    }

    /// <summary>False when the connection must close: the TLS handshake failed after the ack.</summary>
    private bool StartTls(byte[] data)
    {
        if (tls is null)
        {
            SendError(NbdOption.StartTls, NbdOptionReplyType.ErrPolicy, "TLS is not offered on this socket");
            return true;
        }

        if (transport.IsTls)
        {
            SendError(NbdOption.StartTls, NbdOptionReplyType.ErrInvalid, "TLS is already running");
            return true;
        }

        if (data.Length != 0)
        {
            SendError(NbdOption.StartTls, NbdOptionReplyType.ErrInvalid, "NBD_OPT_STARTTLS takes no data");
            return true;
        }

        SendReply(NbdOption.StartTls, NbdOptionReplyType.Ack);
        return transport.TryStartTls(tls, log);
    }

    /// <summary>Whether this client may use the export (only a TLS policy can say no).</summary>
    private bool Permits(NbdExport export) =>
        tls?.Options.MayUse is not { } mayUse || mayUse(transport.ClientCertificate, export);

    /// <summary>The export by name, or null after answering the option with why not.</summary>
    private ExportRegistration? FindOrRefuse(NbdOption option, string name)
    {
        var registration = exports.Find(name);
        if (registration is null)
        {
            SendError(option, NbdOptionReplyType.ErrUnknown, "unknown export");
            return null;
        }

        if (!Permits(registration.Export))
        {
            SendError(option, NbdOptionReplyType.ErrPolicy, "this client's certificate does not allow this export");
            return null;
        }

        return registration;
    }

    private NbdNegotiation? HandleExportName(byte[] data)
    {
        var registration = exports.Find(Encoding.UTF8.GetString(data));
        if (registration is null || !Permits(registration.Export))
        {
            log?.Invoke("nbd: NBD_OPT_EXPORT_NAME for an unknown or refused export; closing");
            return null;
        }

        var negotiated = NegotiationFor(registration);
        Span<byte> reply = stackalloc byte[10 + 124];
        BinaryPrimitives.WriteUInt64BigEndian(reply, (ulong)registration.Export.Backend.Size);
        BinaryPrimitives.WriteUInt16BigEndian(reply[8..], (ushort)negotiated.TransmissionFlags);
        reply[10..].Clear();
        transport.SendAll(_noZeroes ? reply[..10] : reply);
        return negotiated;
    }

    private void HandleList(byte[] data)
    {
        if (data.Length != 0)
        {
            SendError(NbdOption.List, NbdOptionReplyType.ErrInvalid, "NBD_OPT_LIST takes no data");
            return;
        }

        foreach (var export in exports.Snapshot().Where(Permits))
        {
            var name = Encoding.UTF8.GetBytes(export.Name);
            var payload = new byte[4 + name.Length];
            BinaryPrimitives.WriteUInt32BigEndian(payload, (uint)name.Length);
            name.CopyTo(payload, 4);
            SendReply(NbdOption.List, NbdOptionReplyType.Server, payload);
        }

        SendReply(NbdOption.List, NbdOptionReplyType.Ack);
    }

    private NbdNegotiation? HandleInfoOrGo(NbdOption option, byte[] data)
    {
        var reader = new OptionDataReader(data);
        if (!reader.TryReadString(out var name)
            || !reader.TryReadUInt16(out var requestCount)
            || reader.Remaining != requestCount * 2)
        {
            SendError(option, NbdOptionReplyType.ErrInvalid, "malformed info request");
            return null;
        }

        var registration = FindOrRefuse(option, name);
        if (registration is null)
        {
            return null;
        }

        var export = registration.Export;
        var negotiated = NegotiationFor(registration);
        var exportInfo = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(exportInfo, (ushort)NbdInfoType.Export);
        BinaryPrimitives.WriteUInt64BigEndian(exportInfo.AsSpan(2), (ulong)export.Backend.Size);
        BinaryPrimitives.WriteUInt16BigEndian(exportInfo.AsSpan(10), (ushort)negotiated.TransmissionFlags);
        SendReply(option, NbdOptionReplyType.Info, exportInfo);

        for (var i = 0; i < requestCount; i++)
        {
            reader.TryReadUInt16(out var requested);
            switch ((NbdInfoType)requested)
            {
                case NbdInfoType.Name:
                    SendReply(option, NbdOptionReplyType.Info, InfoString(NbdInfoType.Name, export.Name));
                    break;
                case NbdInfoType.Description when export.Description is not null:
                    SendReply(option, NbdOptionReplyType.Info, InfoString(NbdInfoType.Description, export.Description));
                    break;
                case NbdInfoType.BlockSize:
                    var sizes = new byte[14];
                    BinaryPrimitives.WriteUInt16BigEndian(sizes, (ushort)NbdInfoType.BlockSize);
                    BinaryPrimitives.WriteUInt32BigEndian(sizes.AsSpan(2), negotiated.BlockSizes.Minimum);
                    BinaryPrimitives.WriteUInt32BigEndian(sizes.AsSpan(6), negotiated.BlockSizes.Preferred);
                    BinaryPrimitives.WriteUInt32BigEndian(sizes.AsSpan(10), negotiated.BlockSizes.MaximumPayload);
                    SendReply(option, NbdOptionReplyType.Info, sizes);
                    break;
            }
        }

        SendReply(option, NbdOptionReplyType.Ack);
        return option == NbdOption.Go ? negotiated : null;
    }

    private void HandleMetaContext(NbdOption option, byte[] data)
    {
        var selecting = option == NbdOption.SetMetaContext;
        if (selecting)
        {
            // A failed selection still replaces the previous one.
            _metaContextExport = null;
            _selectedContexts = [];
            if (!_structuredReplies)
            {
                SendError(option, NbdOptionReplyType.ErrInvalid, "negotiate structured replies first");
                return;
            }
        }

        var reader = new OptionDataReader(data);
        if (!reader.TryReadString(out var name) || !reader.TryReadUInt32(out var queryCount))
        {
            SendError(option, NbdOptionReplyType.ErrInvalid, "malformed meta context request");
            return;
        }

        var queries = new List<string>();
        for (var i = 0u; i < queryCount; i++)
        {
            if (!reader.TryReadString(out var query))
            {
                SendError(option, NbdOptionReplyType.ErrInvalid, "malformed meta context query");
                return;
            }

            queries.Add(query);
        }

        if (reader.Remaining != 0)
        {
            SendError(option, NbdOptionReplyType.ErrInvalid, "trailing bytes in meta context request");
            return;
        }

        var registration = FindOrRefuse(option, name);
        if (registration is null)
        {
            return;
        }

        var offered = OfferedContexts(registration.Export.Backend);
        var answered = new List<INbdMetaContext>();
        foreach (var context in offered)
        {
            // Selection takes exact names only; a list also takes none (all) and "namespace:" prefixes.
            var wanted = selecting
                ? queries.Contains(context.Name)
                : queryCount == 0 || queries.Exists(q => q == context.Name || (q.EndsWith(':') && context.Name.StartsWith(q, StringComparison.Ordinal)));
            if (wanted)
            {
                answered.Add(context);
            }
        }

        for (var i = 0; i < answered.Count; i++)
        {
            var contextName = Encoding.UTF8.GetBytes(answered[i].Name);
            var payload = new byte[4 + contextName.Length];
            BinaryPrimitives.WriteUInt32BigEndian(payload, selecting ? NbdNegotiation.ContextId(i) : 0);
            contextName.CopyTo(payload, 4);
            SendReply(option, NbdOptionReplyType.MetaContext, payload);
        }

        if (selecting)
        {
            _metaContextExport = registration;
            _selectedContexts = answered;
        }

        SendReply(option, NbdOptionReplyType.Ack);
    }

    private static List<INbdMetaContext> OfferedContexts(INbdExportBackend backend) =>
        [new BaseAllocationContext(backend), .. backend.MetaContexts];

    private NbdNegotiation NegotiationFor(ExportRegistration registration)
    {
        var backend = registration.Export.Backend;
        var sizes = backend.BlockSizes;
        var payload = Math.Min(sizes.MaximumPayload, maximumPayload);
        // The server's limit may undercut a backend's preferred size, which must not exceed the maximum.
        var preferred = Math.Min(sizes.Preferred, 1u << BitOperations.Log2(payload));
        return new NbdNegotiation(
            registration,
            NbdTransmissionFlagsBuilder.From(backend.Capabilities),
            sizes with { Preferred = preferred, MaximumPayload = payload },
            _structuredReplies,
            _structuredReplies && ReferenceEquals(_metaContextExport, registration) ? _selectedContexts : []);
    }

    private static byte[] InfoString(NbdInfoType type, string value)
    {
        var text = Encoding.UTF8.GetBytes(value);
        var payload = new byte[2 + text.Length];
        BinaryPrimitives.WriteUInt16BigEndian(payload, (ushort)type);
        text.CopyTo(payload, 2);
        return payload;
    }

    private void SendError(NbdOption option, NbdOptionReplyType error, string message)
    {
        log?.Invoke($"nbd: option {option}: {message}");
        SendReply(option, error, Encoding.UTF8.GetBytes(message));
    }

    private void SendReply(NbdOption option, NbdOptionReplyType type, ReadOnlySpan<byte> payload = default)
    {
        var message = new byte[NbdHeaderSizes.OptionReply + payload.Length];
        BinaryPrimitives.WriteUInt64BigEndian(message, NbdMagic.OptionReply);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(8), (uint)option);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(12), (uint)type);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(16), (uint)payload.Length);
        payload.CopyTo(message.AsSpan(NbdHeaderSizes.OptionReply));
        transport.SendAll(message);
    }
}
