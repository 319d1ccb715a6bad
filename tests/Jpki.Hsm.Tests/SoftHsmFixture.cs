using System.Security.Cryptography;
using System.Text;

namespace Jpki.Hsm.Tests;

/// <summary>
/// One SoftHSM module for this test process (one C_Initialize per process; never finalised
/// while tests use it), with its own token directory. Each test makes its own token with a
/// unique label and random PINs kept in 0600 files, as the ceremony does.
/// </summary>
public sealed class SoftHsmFixture : IDisposable
{
    public const string ModulePathDefault = "/usr/lib/softhsm/libsofthsm2.so";

    public SoftHsmFixture()
    {
        Root = Directory.CreateTempSubdirectory("jpki-hsm-tests-").FullName;
        TokenDir = Path.Combine(Root, "tokens");
        Directory.CreateDirectory(TokenDir);
        var conf = Path.Combine(Root, "softhsm2.conf");
        File.WriteAllText(conf, $"directories.tokendir = {TokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");

        ModulePath = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : ModulePathDefault;
        Module = Pkcs11Module.Load(ModulePath, new Dictionary<string, string> { ["SOFTHSM2_CONF"] = conf });
    }

    public string Root { get; }

    public string TokenDir { get; }

    public string ModulePath { get; }

    public Pkcs11Module Module { get; }

    /// <summary>Initialises a fresh token; returns its label and the file holding its user PIN.</summary>
    public (string Label, string PinFile) NewToken(string prefix = "t")
    {
        var label = $"{prefix}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        var userPin = RandomPin();
        var pinFile = Path.Combine(Root, label + ".pin");
        File.WriteAllText(pinFile, userPin + "\n");
        File.SetUnixFileMode(pinFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        HsmToken.Initialise(Module, label, Encoding.UTF8.GetBytes(RandomPin()), Encoding.UTF8.GetBytes(userPin));
        return (label, pinFile);
    }

    public static string RandomPin() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    public void Dispose()
    {
        // The module stays loaded until the process ends: finalising it while another test
        // class's finaliser might still use a session is exactly what docs/design.md §8 forbids.
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
public sealed class SoftHsmTests : ICollectionFixture<SoftHsmFixture>
{
    public const string Name = "softhsm";
}
