using System.Security.Cryptography;
using System.Text;
using Jpki.Hsm;

namespace Jpki.Core.Tests;

/// <summary>
/// The one SoftHSM module of this test process (docs/design.md §8: one C_Initialize per process,
/// never finalised while tests run) with one token of its own, made at first use in a temporary
/// token store. Audit checkpoints in these tests are signed by real token keys, as in
/// production. Child processes (Jpki.AuditAppender) open the same token through
/// <see cref="ConfPath"/>, <see cref="TokenLabel"/> and <see cref="PinFile"/>.
/// </summary>
internal sealed class TestHsm
{
    // A process-wide instance is what "one module per process" means; it holds no test state.
    private static readonly Lazy<TestHsm> Shared = new(() => new TestHsm());

    private TestHsm()
    {
        Root = Directory.CreateTempSubdirectory("jpki-core-tests-hsm-").FullName;
        var tokens = Path.Combine(Root, "tokens");
        Directory.CreateDirectory(tokens);
        ConfPath = Path.Combine(Root, "softhsm2.conf");
        File.WriteAllText(ConfPath, $"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
        ModulePath = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";
        Module = Pkcs11Module.Load(ModulePath, new Dictionary<string, string> { ["SOFTHSM2_CONF"] = ConfPath });

        TokenLabel = "core-tests";
        PinFile = Path.Combine(Root, "user.pin");
        var pin = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        File.WriteAllText(PinFile, pin);
        File.SetUnixFileMode(PinFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        HsmToken.Initialise(Module, TokenLabel, RandomNumberGenerator.GetBytes(8), Encoding.UTF8.GetBytes(pin));
        Token = HsmToken.Open(Module, TokenLabel, PinSource.FromFile(PinFile));
        Pool = Token.CreatePool("tests", 4);
        Token.GenerateKeyPair(KeyKind.EcP256, CheckpointLabel);
        Checkpoint = Pkcs11Signer.Open(Pool, CheckpointLabel);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(Root);
    }

    public const string CheckpointLabel = "audit-checkpoint-test";

    public static TestHsm Instance => Shared.Value;

    public string Root { get; }

    public string ConfPath { get; }

    public string ModulePath { get; }

    public string TokenLabel { get; }

    public string PinFile { get; }

    public Pkcs11Module Module { get; }

    public HsmToken Token { get; }

    public SessionPool Pool { get; }

    /// <summary>The P-256 audit-checkpoint key every audit test signs with.</summary>
    public Pkcs11Signer Checkpoint { get; }

    /// <summary>A self-signed certificate (DER) of <see cref="Checkpoint"/>, as the ceremony makes one; new each call.</summary>
    public byte[] CheckpointCertificate() =>
        new Jpki.Core.Profiles.CheckpointCertificateBuilder(Checkpoint, SignatureAlgorithm.EcdsaSha256).Build(new Jpki.Core.Profiles.CheckpointCertificateRequest
        {
            InstallName = "core tests",
            KeyNumber = 1,
            SerialNumber = Jpki.Core.Profiles.SerialNumbers.New(),
            IssuedAt = DateTimeOffset.UtcNow,
        });

    /// <summary>A fresh P-256 key in the token (a forger's key, a rotated checkpoint key).</summary>
    public Pkcs11Signer NewEcSigner()
    {
        var label = "ec-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        Token.GenerateKeyPair(KeyKind.EcP256, label);
        return Pkcs11Signer.Open(Pool, label);
    }

    private static void TryDelete(string dir)
    {
        try
        {
            Directory.Delete(dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
