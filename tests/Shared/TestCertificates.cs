namespace BlkSnapFs.Tests;

/// <summary>
/// Certificates made with openssl for one test class, the way the README's TLS steps make them: a CA,
/// a server certificate for 127.0.0.1 and localhost, and client credentials in the directory layout
/// libnbd (tls-certificates=DIR) and qemu (tls-creds-x509 dir=DIR) read: ca-cert.pem, client-cert.pem,
/// client-key.pem. Keys are EC P-256 (quick to make).
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private readonly TestDirectory _directory = new("tlsc-");
    private int _serial = 100;

    public TestCertificates()
    {
        CaFile = _directory.File("ca.pem");
        OtherCaFile = _directory.File("other-ca.pem");
        MakeCa("ca", "blksnapfs test CA");
        MakeCa("other-ca", "some other CA");
        ServerCertificateFile = _directory.File("server-cert.pem");
        ServerKeyFile = _directory.File("server-key.pem");
        MakeLeaf("server", "localhost", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    }

    public string Path => _directory.Path;

    public string CaFile { get; }

    /// <summary>A CA the server does not trust.</summary>
    public string OtherCaFile { get; }

    public string ServerCertificateFile { get; }

    public string ServerKeyFile { get; }

    /// <summary>A client directory whose certificate, signed by <paramref name="ca"/> ("ca" or "other-ca"), names <paramref name="commonName"/>.</summary>
    public string Client(string name, string commonName, string ca = "ca")
    {
        var directory = ClientDirectory(name);
        MakeLeaf(name, commonName, ca, "extendedKeyUsage=clientAuth\n");
        File.Move(_directory.File(name + "-cert.pem"), System.IO.Path.Combine(directory, "client-cert.pem"));
        File.Move(_directory.File(name + "-key.pem"), System.IO.Path.Combine(directory, "client-key.pem"));
        return directory;
    }

    /// <summary>A client directory with the CA only: the client checks the server but shows no certificate.</summary>
    public string AnonymousClient(string name) => ClientDirectory(name);

    /// <summary>A client whose certificate from the trusted CA expired in 2020 (made with `openssl ca -startdate/-enddate`).</summary>
    public string ExpiredClient(string name, string commonName)
    {
        var directory = ClientDirectory(name);
        var database = _directory.File("db");
        Directory.CreateDirectory(database);
        File.WriteAllText(System.IO.Path.Combine(database, "index.txt"), "");
        File.WriteAllText(System.IO.Path.Combine(database, "serial"), "1000\n");
        var config = _directory.File("ca.cnf");
        File.WriteAllText(config, $"""
            [ca]
            default_ca = test
            [test]
            database = {database}/index.txt
            serial = {database}/serial
            new_certs_dir = {database}
            certificate = {CaFile}
            private_key = {_directory.File("ca-key.pem")}
            default_md = sha256
            policy = any
            x509_extensions = client
            [any]
            commonName = supplied
            [client]
            extendedKeyUsage = clientAuth
            """);
        var request = _directory.File(name + ".csr");
        OpenSsl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", System.IO.Path.Combine(directory, "client-key.pem"), "-out", request, "-subj", "/CN=" + commonName);
        OpenSsl("ca", "-config", config, "-batch", "-notext", "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
            "-in", request, "-out", System.IO.Path.Combine(directory, "client-cert.pem"));
        return directory;
    }

    public void Dispose() => _directory.Dispose();

    private string ClientDirectory(string name)
    {
        var directory = _directory.File(name);
        Directory.CreateDirectory(directory);
        File.Copy(CaFile, System.IO.Path.Combine(directory, "ca-cert.pem"));
        return directory;
    }

    private void MakeCa(string name, string commonName) =>
        OpenSsl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", _directory.File(name + "-key.pem"), "-out", _directory.File(name + ".pem"), "-days", "30", "-subj", "/CN=" + commonName);

    private void MakeLeaf(string name, string commonName, string ca, string extensions)
    {
        var request = _directory.File(name + ".csr");
        var extensionFile = _directory.File(name + ".ext");
        File.WriteAllText(extensionFile, extensions);
        OpenSsl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", _directory.File(name + "-key.pem"), "-out", request, "-subj", "/CN=" + commonName);
        OpenSsl("x509", "-req", "-in", request, "-CA", _directory.File(ca + ".pem"), "-CAkey", _directory.File(ca + "-key.pem"),
            "-set_serial", (++_serial).ToString(System.Globalization.CultureInfo.InvariantCulture), "-days", "30",
            "-extfile", extensionFile, "-out", _directory.File(name + "-cert.pem"));
    }

    private static void OpenSsl(params string[] arguments)
    {
        var result = TestProcess.Run("openssl", arguments, environment: null, timeout: TimeSpan.FromSeconds(60));
        if (!result.Ok)
            throw new InvalidOperationException($"openssl failed: {result}");
    }
}
