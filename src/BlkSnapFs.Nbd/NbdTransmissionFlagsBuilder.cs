using BlkSnapFs.Nbd.Protocol;

namespace BlkSnapFs.Nbd;

/// <summary>Derives the advertised transmission flags from a backend's capabilities.</summary>
internal static class NbdTransmissionFlagsBuilder
{
    public static NbdTransmissionFlags From(NbdExportCapabilities capabilities)
    {
        var flags = NbdTransmissionFlags.HasFlags;
        var writable = !capabilities.HasFlag(NbdExportCapabilities.ReadOnly);
        if (!writable)
        {
            flags |= NbdTransmissionFlags.ReadOnly;
        }

        if (capabilities.HasFlag(NbdExportCapabilities.Flush))
        {
            flags |= NbdTransmissionFlags.SendFlush;
        }

        if (writable && capabilities.HasFlag(NbdExportCapabilities.ForceUnitAccess))
        {
            flags |= NbdTransmissionFlags.SendFua;
        }

        if (writable && capabilities.HasFlag(NbdExportCapabilities.Trim))
        {
            flags |= NbdTransmissionFlags.SendTrim;
        }

        if (writable && capabilities.HasFlag(NbdExportCapabilities.WriteZeroes))
        {
            flags |= NbdTransmissionFlags.SendWriteZeroes;
        }

        if (capabilities.HasFlag(NbdExportCapabilities.Cache))
        {
            flags |= NbdTransmissionFlags.SendCache;
        }

        if (capabilities.HasFlag(NbdExportCapabilities.MultiConnection))
        {
            flags |= NbdTransmissionFlags.CanMultiConn;
        }

        return flags;
    }
}
