using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace Jpki.HsmTool.Tests;

/// <summary>
/// One SoftHSM token store for this test process, shared by the tool's child processes and by
/// OpenSC's pkcs11-tool, the independent checker of what they made (this process loads no
/// module: SoftHSM sees only the tokens that existed when it was initialised). Each install (a
/// JPKI_HOME of its own) uses its own token label, so tests do not see each other's keys.
/// </summary>
public sealed class SoftHsmStore : IDisposable
{
    public SoftHsmStore()
    {
        Root = Directory.CreateTempSubdirectory("jpki-tool-tests-").FullName;
        TokenDir = Path.Combine(Root, "tokens");
        Directory.CreateDirectory(TokenDir);
        ConfPath = Path.Combine(Root, "softhsm2.conf");
        File.WriteAllText(ConfPath, $"directories.tokendir = {TokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        ModulePath = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";
        Ceremony = new Lazy<SharedCeremony>(() =>
        {
            var install = NewInstall();
            return new SharedCeremony(install, install.Run("hsm", "init"), install.Run("hsm", "init"));
        });
    }

    /// <summary>One install whose ceremony ran twice, shared by the tests that only look at it.</summary>
    public Lazy<SharedCeremony> Ceremony { get; }

    public string Root { get; }

    public string TokenDir { get; }

    public string ConfPath { get; }

    public string ModulePath { get; }

    public Install NewInstall() => new(this);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

[CollectionDefinition(Name)]
public sealed class SoftHsmStoreTests : ICollectionFixture<SoftHsmStore>
{
    public const string Name = "tool-softhsm";
}

/// <summary>One install: its JPKI_HOME, its token label, and a way to run the real tool against it.</summary>
public sealed class Install(SoftHsmStore store, string? home = null, string? tokenLabel = null)
{
    public SoftHsmStore Store { get; } = store;

    public string Home { get; } = home ?? Directory.CreateTempSubdirectory("jpki-home-").FullName;

    public string TokenLabel { get; } = tokenLabel ?? "JPKI-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));

    /// <summary>
    /// A second install on the same token with a copy of this one's JPKI_HOME (store, checkpoint
    /// file, secrets): something to tamper with while this one stays intact. Copy only while no
    /// tool runs on this install.
    /// </summary>
    public Install CopyHome()
    {
        var copy = Directory.CreateTempSubdirectory("jpki-home-").FullName;
        foreach (var file in Directory.EnumerateFiles(Home, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(Home, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
            File.SetLastWriteTimeUtc(target, File.GetLastWriteTimeUtc(file));
        }

        return new Install(Store, copy, TokenLabel);
    }

    public Dictionary<string, string?> Environment { get; } = [];

    public string UserPinFile => Path.Combine(Home, "secrets", "hsm-user.pin");

    public string CertPath(string name) => Path.Combine(Home, "certs", name + ".pem");

    public string DatabasePath => Path.Combine(Home, "jpki.db");

    /// <summary>Runs `dotnet Jpki.HsmTool.dll args...` with this install's environment; 2-minute limit.</summary>
    public ToolResult Run(params string[] args) => RunWithInput(null, args);

    /// <summary>As <see cref="Run"/>, with <paramref name="input"/> on the tool's standard input (PINs, a holder's Enter).</summary>
    public ToolResult RunWithInput(string? input, params string[] args)
    {
        var psi = ExternalProcess.Start("dotnet", [TestInstall.BuiltToolPath("hsm-config", "Jpki.HsmTool"), .. args]);
        psi.WorkingDirectory = Home;
        psi.Environment["JPKI_HOME"] = Home;
        psi.Environment["SOFTHSM2_CONF"] = Store.ConfPath;
        psi.Environment["JPKI_HSM_TOKEN"] = TokenLabel;
        psi.Environment["JPKI_PKCS11_MODULE"] = Store.ModulePath;
        psi.Environment["JPKI_LOG_LEVEL"] = "Debug";
        psi.Environment.Remove("JPKI_HSM_PIN");
        psi.Environment.Remove("JPKI_DB");
        foreach (var (k, v) in Environment)
        {
            psi.Environment[k] = v;
        }

        var result = ExternalProcess.Run(psi, input ?? "");
        return new ToolResult(result.ExitCode, result.Stdout, result.Stderr);
    }

    /// <summary>
    /// Runs OpenSC's pkcs11-tool on this install's token, logged in with the PIN passed through
    /// an environment variable (pkcs11-tool's <c>--pin env:NAME</c>), never on its command line.
    /// </summary>
    public (int ExitCode, string Output, byte[] Stdout) Pkcs11Tool(params string[] args)
    {
        var psi = new ProcessStartInfo("pkcs11-tool") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["--module", Store.ModulePath, "--token-label", TokenLabel, "--login", "--pin", "env:JPKI_TEST_TOKEN_PIN", .. args])
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["SOFTHSM2_CONF"] = Store.ConfPath;
        psi.Environment["JPKI_TEST_TOKEN_PIN"] = File.ReadAllText(UserPinFile).Trim();
        using var process = Process.Start(psi)!;
        using var stdout = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        copy.Wait();
        return (process.ExitCode, Encoding.UTF8.GetString(stdout.ToArray()) + stderr.Result, stdout.ToArray());
    }

    /// <summary>The DER SubjectPublicKeyInfo of a key pair in the token, read by pkcs11-tool.</summary>
    public byte[] PublicKey(string label)
    {
        var (exit, output, bytes) = Pkcs11Tool("--read-object", "--type", "pubkey", "--label", label);
        return exit == 0 ? bytes : throw new InvalidOperationException($"pkcs11-tool could not read public key {label}: {output}");
    }
}

public sealed record SharedCeremony(Install Install, ToolResult First, ToolResult Second);

public sealed record ToolResult(int ExitCode, string Stdout, string Stderr)
{
    public string All => Stdout + "\n" + Stderr;

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
}

/// <summary>Runs an outside checker (openssl, certtool) and returns exit code and combined output.</summary>
public static class Checker
{
    public static byte[] PemToDer(string path) =>
        Convert.FromBase64String(string.Concat(File.ReadAllLines(path).Where(l => !l.StartsWith("-----", StringComparison.Ordinal))));

    public static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
