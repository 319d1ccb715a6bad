using System.Security.Cryptography;
using System.Text;

namespace Jpki.Hsm.Tests;

[Collection(SoftHsmTests.Name)]
public sealed class FaultTests(SoftHsmFixture hsm)
{
    [Fact]
    public void Wrong_pin_is_a_typed_error_and_the_pin_is_never_logged()
    {
        var (label, _) = hsm.NewToken("pin");
        var wrongPin = "WRONG" + SoftHsmFixture.RandomPin();
        var wrongFile = Path.Combine(hsm.Root, label + ".wrong");
        File.WriteAllText(wrongFile, wrongPin);
        var logger = new CapturingLogger();

        var e = Assert.Throws<HsmWrongPinException>(() => HsmToken.Open(hsm.Module, label, PinSource.FromFile(wrongFile), logger));

        Assert.Equal(label, e.TokenLabel);
        Assert.DoesNotContain(wrongPin, e.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(wrongPin, logger.All, StringComparison.Ordinal);
    }

    [Fact]
    public void Pin_from_environment_variable_logs_in_and_is_not_logged()
    {
        var (label, pinFile) = hsm.NewToken("env");
        var pin = File.ReadAllText(pinFile).Trim();
        var variable = "JPKI_TEST_PIN_" + label.Replace('-', '_').ToUpperInvariant();
        Environment.SetEnvironmentVariable(variable, pin);
        var logger = new CapturingLogger();
        try
        {
            using var token = HsmToken.Open(hsm.Module, label, PinSource.FromEnvironmentOrFile(variable, "/nonexistent"), logger);
            token.GenerateKeyPair(KeyKind.EcP256, "k");
            using var pool = token.CreatePool("env", 1);
            using var signer = Pkcs11Signer.Open(pool, "k");
            Assert.NotEmpty(signer.Sign(SignatureAlgorithm.EcdsaSha256, [1]));
            Assert.NotEmpty(logger.Lines);
            Assert.DoesNotContain(pin, logger.All, StringComparison.Ordinal);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public void Missing_pin_sources_are_typed_errors()
    {
        Assert.Throws<HsmPinSourceException>(() => PinSource.FromFile(Path.Combine(hsm.Root, "absent.pin")).Read());
        Assert.Throws<HsmPinSourceException>(() => PinSource.FromEnvironment("JPKI_TEST_UNSET_VARIABLE").Read());
        var empty = Path.Combine(hsm.Root, "empty.pin");
        File.WriteAllText(empty, "\n");
        Assert.Throws<HsmPinSourceException>(() => PinSource.FromFile(empty).Read());
    }

    [Fact]
    public void Missing_token_is_a_typed_error()
    {
        var e = Assert.Throws<HsmTokenNotFoundException>(() =>
            HsmToken.Open(hsm.Module, "no-such-token", PinSource.FromFile("/nonexistent")));
        Assert.Equal("no-such-token", e.TokenLabel);
    }

    [Fact]
    public void Missing_or_foreign_module_is_a_typed_error()
    {
        var absent = Assert.Throws<HsmModuleNotFoundException>(() => Pkcs11Module.Load("/usr/lib/nonexistent/libnothing.so"));
        Assert.Equal("/usr/lib/nonexistent/libnothing.so", absent.ModulePath);

        // A real shared library that is not a PKCS#11 module (no C_GetFunctionList).
        var libz = new[] { "/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/x86_64-linux-gnu/libz.so.1" }.First(File.Exists);
        Assert.Throws<HsmModuleNotFoundException>(() => Pkcs11Module.Load(libz));
    }

    [Fact]
    public void Sessions_closed_under_the_pool_are_replaced_and_login_restored()
    {
        var (label, pinFile) = hsm.NewToken("closed");
        using var token = HsmToken.Open(hsm.Module, label, PinSource.FromFile(pinFile));
        token.GenerateKeyPair(KeyKind.EcP256, "k");
        using var pool = token.CreatePool("closed", 2);
        using var signer = Pkcs11Signer.Open(pool, "k");
        signer.Sign(SignatureAlgorithm.EcdsaSha256, [1]);

        // C_CloseAllSessions drops every session of this process on the token, and with the
        // last session the login: what a token reset or an HSM failover does to a client.
        hsm.Module.FindSlot(label)!.CloseAllSessions();

        var data = Encoding.ASCII.GetBytes("after reset");
        var signature = signer.Sign(SignatureAlgorithm.EcdsaSha256, data);
        using var ec = ECDsa.Create();
        ec.ImportSubjectPublicKeyInfo(signer.SubjectPublicKeyInfo, out _);
        Assert.True(ec.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        Assert.Equal(HsmHealthStatus.Healthy, pool.Health.Status);
    }

    [Fact]
    public void Pool_reports_unavailable_while_key_files_are_gone_and_recovers_without_restart()
    {
        var (label, pinFile) = hsm.NewToken("outage");
        var logger = new CapturingLogger();
        using var token = HsmToken.Open(hsm.Module, label, PinSource.FromFile(pinFile), logger);
        token.GenerateKeyPair(KeyKind.Rsa, "ca");
        using var pool = token.CreatePool("outage", 2, HsmRetryPolicy.Default with { FirstDelay = TimeSpan.FromMilliseconds(5) });
        using var signer = Pkcs11Signer.Open(pool, "ca");
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(signer.SubjectPublicKeyInfo, out _);
        var data = Encoding.ASCII.GetBytes("before");
        Assert.True(rsa.VerifyData(data, signer.Sign(SignatureAlgorithm.RsaPkcs1Sha256, data), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));

        // Take the key's object files away (a failed disk, a bad restore). Root ignores file
        // modes, so "unreadable" here means gone; the generation bump is what SoftHSM's own
        // writes do, and it makes this process notice at once.
        var dir = new SoftHsmTokenFiles(hsm.TokenDir).DirectoryOf(label);
        var objects = Directory.GetFiles(dir, "*.object").Where(f => !f.EndsWith("token.object", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, objects.Count);
        foreach (var f in objects)
        {
            File.Move(f, f + ".away");
        }

        SoftHsmTokenFiles.SignalChange(dir);
        try
        {
            var e = Assert.Throws<HsmTokenUnavailableException>(() => signer.Sign(SignatureAlgorithm.RsaPkcs1Sha256, data));
            Assert.Equal(HsmRetryPolicy.Default.MaxAttempts, e.Attempts);
            Assert.Equal("outage", e.Purpose);
            Assert.Equal(HsmHealthStatus.Unavailable, pool.Health.Status);
            Assert.Equal(HsmHealthStatus.Unavailable, pool.Probe().Status);
        }
        finally
        {
            foreach (var f in objects)
            {
                File.Move(f + ".away", f);
            }

            SoftHsmTokenFiles.SignalChange(dir);
        }

        // Same pool, same signer, no restart: the first fresh session that works brings it back.
        var after = Encoding.ASCII.GetBytes("after");
        var signature = signer.Sign(SignatureAlgorithm.RsaPkcs1Sha256, after);
        Assert.True(rsa.VerifyData(after, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Assert.Equal(HsmHealthStatus.Healthy, pool.Health.Status);
        Assert.Equal(HsmHealthStatus.Healthy, pool.Probe().Status);
        Assert.Contains(logger.Lines, l => l.Contains("recovered", StringComparison.Ordinal));
    }

    [Fact]
    public void Backup_and_restore_bring_back_the_same_keys()
    {
        var (label, pinFile) = hsm.NewToken("backup");
        var files = new SoftHsmTokenFiles(hsm.TokenDir);
        byte[] spki;
        byte[] mac;
        var archive = Path.Combine(hsm.Root, label + ".tar");
        using (var token = HsmToken.Open(hsm.Module, label, PinSource.FromFile(pinFile)))
        using (var pool = token.CreatePool("backup", 1))
        {
            token.GenerateKeyPair(KeyKind.Rsa, "ca");
            token.GenerateHmacKey("hmac-v1");
            using var signer = Pkcs11Signer.Open(pool, "ca");
            using var hmac = Pkcs11Hmac.Open(pool, "hmac-v1");
            spki = signer.SubjectPublicKeyInfo;
            mac = hmac.Compute("12345678901"u8);
            var manifest = files.Backup(label, archive);
            Assert.Equal(label, manifest.Label);
            Assert.Contains("token.object", manifest.Files.Keys);
        }

        // A restore over a present token is refused; a tampered archive is refused before writing.
        Assert.Throws<InvalidOperationException>(() => files.Restore(archive, replace: false));
        var tampered = Path.Combine(hsm.Root, label + ".bad.tar");
        var bytes = File.ReadAllBytes(archive);
        var at = bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes(label.PadRight(32))) + 2;
        bytes[at] ^= 0x20;
        File.WriteAllBytes(tampered, bytes);
        Assert.Throws<InvalidDataException>(() => files.Restore(tampered, replace: true));

        // Lose the key objects, restore, and the same keys sign and hash as before.
        var dir = files.DirectoryOf(label);
        foreach (var f in Directory.GetFiles(dir, "*.object").Where(f => !f.EndsWith("token.object", StringComparison.Ordinal)))
        {
            File.Delete(f);
        }

        SoftHsmTokenFiles.SignalChange(dir);
        files.Restore(archive, replace: true);
        using (var token = HsmToken.Open(hsm.Module, label, PinSource.FromFile(pinFile)))
        using (var pool = token.CreatePool("restored", 1))
        using (var signer = Pkcs11Signer.Open(pool, "ca"))
        using (var hmac = Pkcs11Hmac.Open(pool, "hmac-v1"))
        {
            Assert.Equal(spki, signer.SubjectPublicKeyInfo);
            Assert.Equal(mac, hmac.Compute("12345678901"u8));
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(spki, out _);
            Assert.True(rsa.VerifyData("x"u8.ToArray(), signer.Sign(SignatureAlgorithm.RsaPkcs1Sha256, "x"u8), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        }
    }
}
