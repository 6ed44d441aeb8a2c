using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BlkSnapFs.Core;
using BlkSnapFs.Nbd;

namespace BlkSnapFs.Daemon.Frontends;

/// <summary>
/// The TLS of the TCP listener, from the Nbd:Tls settings: the server's PEM certificate and key, the
/// client CA, and who may use which export. Image exports take any client the CA vouches for; a live
/// export (the nbd and dm frontends' <see cref="DeviceExportBackend"/>) only one whose certificate's
/// CN is in Nbd:Tls:WriterNames, so without Nbd:Tls:ClientCaFile no TCP client gets a live export.
/// A file that cannot be read or used stops the start, naming the setting and the file.
/// </summary>
public static class NbdTlsCredentials
{
    /// <summary>Null when there is no TCP listener or TLS is off.</summary>
    public static NbdTlsOptions? Load(DaemonSettings settings)
    {
        if (settings.NbdTcpAddress is null || settings.NbdTlsMode == NbdTlsMode.Off)
            return null;
        // DaemonSettings refuses to start without both files when TLS is required.
        var certificateFile = settings.NbdTlsCertificateFile!;
        var keyFile = settings.NbdTlsKeyFile!;
        var chain = Certificates("Nbd:Tls:CertificateFile", certificateFile);
        X509Certificate2 server;
        try
        {
            server = X509Certificate2.CreateFromPem(ReadPem("Nbd:Tls:CertificateFile", certificateFile), ReadPem("Nbd:Tls:KeyFile", keyFile));
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            // No key at all is a CryptographicException, another certificate's key an ArgumentException.
            throw new BlkSnapException(Errno.EINVAL, $"Nbd:Tls:KeyFile {keyFile}: no PEM private key of the certificate in {certificateFile}");
        }
        chain.RemoveAt(0);
        var writers = settings.NbdTlsWriterNames.ToHashSet(StringComparer.Ordinal);
        return new NbdTlsOptions
        {
            ServerCertificate = server,
            ServerCertificateChain = chain,
            ClientCertificateAuthorities = settings.NbdTlsClientCaFile is { } caFile ? Certificates("Nbd:Tls:ClientCaFile", caFile) : null,
            MayUse = (client, export) => export.Backend is not DeviceExportBackend
                || (client is not null && writers.Contains(client.GetNameInfo(X509NameType.SimpleName, forIssuer: false))),
        };
    }

    private static X509Certificate2Collection Certificates(string key, string path)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(ReadPem(key, path));
        }
        catch (CryptographicException e)
        {
            throw new BlkSnapException(Errno.EINVAL, $"{key} {path}: {e.Message}");
        }
        if (certificates.Count == 0)
            throw new BlkSnapException(Errno.EINVAL, $"{key} {path}: no PEM certificate in it");
        return certificates;
    }

    private static string ReadPem(string key, string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlkSnapException(Errno.Of(e), $"{key} {path}: cannot read it");
        }
    }
}
