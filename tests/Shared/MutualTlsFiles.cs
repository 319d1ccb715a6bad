using System.Diagnostics;

namespace Jpki.TestSupport;

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

    /// <summary>Runs curl with the given arguments (it trusts the server certificate); returns exit code and output.</summary>
    public async Task<(int ExitCode, string Output)> CurlAsync(params string[] arguments) =>
        await RunAsync("curl", ["-sS", "--max-time", "30", "--cacert", ServerCertificate, .. arguments]);

    public static async Task<(int ExitCode, string Output)> RunAsync(string file, params string[] arguments)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            psi.ArgumentList.Add(argument);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    private (string Certificate, string Key) SelfSigned(string name, string subject, string extension)
    {
        var certificate = Path.Combine(Directory, name + ".pem");
        var key = Path.Combine(Directory, name + ".key");
        var (exitCode, output) = RunAsync(
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", certificate, "-days", "2", "-subj", subject, "-addext", extension).GetAwaiter().GetResult();
        if (exitCode != 0)
        {
            throw new InvalidOperationException("openssl req failed: " + output);
        }

        return (certificate, key);
    }
}
