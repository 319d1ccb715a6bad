using System.Diagnostics;

namespace Jpki.Testing;

/// <summary>
/// Key material for the mutual-TLS listeners, made by the real openssl CLI in a directory of its
/// own: a server certificate for 127.0.0.1 and any number of self-signed client certificates
/// (P-256). Clients are driven with curl (<see cref="CurlAsync"/>), which sends the client certificate.
/// </summary>
public sealed class MutualTlsFiles
{
    private MutualTlsFiles(string directory) => Directory = directory;

    public string Directory { get; }

    public string ServerCertificate => Path.Combine(Directory, "server.pem");

    public string ServerKey => Path.Combine(Directory, "server.key");

    public static MutualTlsFiles Create(string directory)
    {
        System.IO.Directory.CreateDirectory(directory);
        var files = new MutualTlsFiles(directory);
        files.SelfSigned("server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1");
        return files;
    }

    /// <summary>A new client certificate and key (PEM paths) with subject CN=<paramref name="name"/>.</summary>
    public (string Certificate, string Key) NewClient(string name) => SelfSigned(name, "/CN=" + name, "extendedKeyUsage=clientAuth");

    /// <summary>
    /// A self-signed client certificate valid exactly from <paramref name="notBefore"/> to
    /// <paramref name="notAfter"/> (either may be in the past: an expired or not-yet-valid
    /// certificate). <c>openssl req -x509</c> and <c>openssl x509</c> of OpenSSL 3.0 cannot set a
    /// start date, so the certificate is made by <c>openssl ca -selfsign -startdate -enddate</c>
    /// with a throw-away CA database of its own.
    /// </summary>
    public (string Certificate, string Key) NewClient(string name, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        var work = System.IO.Directory.CreateDirectory(Path.Combine(Directory, name + "-ca")).FullName;
        var certificate = Path.Combine(Directory, name + ".pem");
        var key = Path.Combine(Directory, name + ".key");
        var request = Path.Combine(work, "request.csr");
        var config = Path.Combine(work, "ca.cnf");
        File.WriteAllText(Path.Combine(work, "index.txt"), "");
        File.WriteAllText(Path.Combine(work, "serial"), Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8)) + "\n");
        File.WriteAllText(
            config,
            $"""
            [ca]
            default_ca = dated
            [dated]
            database = {work}/index.txt
            new_certs_dir = {work}
            serial = {work}/serial
            default_md = sha256
            policy = anything
            unique_subject = no
            email_in_dn = no
            copy_extensions = none
            x509_extensions = client
            [anything]
            commonName = supplied
            [client]
            extendedKeyUsage = clientAuth
            """);
        Check(ExternalProcess.RunAsync("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", request, "-subj", "/CN=" + name).GetAwaiter().GetResult(), "openssl req");
        Check(
            ExternalProcess.RunAsync(
                "openssl", "ca", "-batch", "-notext", "-config", config, "-selfsign", "-keyfile", key, "-in", request, "-out", certificate,
                "-startdate", notBefore.UtcDateTime.ToString("yyyyMMddHHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture),
                "-enddate", notAfter.UtcDateTime.ToString("yyyyMMddHHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture)).GetAwaiter().GetResult(),
            "openssl ca");
        return (certificate, key);
    }

    /// <summary>Runs curl with the given arguments (it trusts the server certificate); returns exit code and output.</summary>
    public async Task<(int ExitCode, string Output)> CurlAsync(params string[] arguments) =>
        await ExternalProcess.RunAsync("curl", ["-sS", "--max-time", "30", "--cacert", ServerCertificate, .. arguments]);

    private static void Check((int ExitCode, string Output) run, string what)
    {
        if (run.ExitCode != 0)
        {
            throw new InvalidOperationException(what + " failed: " + run.Output);
        }
    }

    private (string Certificate, string Key) SelfSigned(string name, string subject, string extension)
    {
        var certificate = Path.Combine(Directory, name + ".pem");
        var key = Path.Combine(Directory, name + ".key");
        var (exitCode, output) = ExternalProcess.RunAsync(
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", certificate, "-days", "2", "-subj", subject, "-addext", extension).GetAwaiter().GetResult();
        if (exitCode != 0)
        {
            throw new InvalidOperationException("openssl req failed: " + output);
        }

        return (certificate, key);
    }
}
