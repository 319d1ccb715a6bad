using System.Security.Cryptography;
using System.Text;

namespace Jpki.Hsm.Tests;

[Collection(SoftHsmTests.Name)]
public sealed class SignerTests(SoftHsmFixture hsm) : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    private (HsmToken Token, SessionPool Pool) NewPool(int size = 2)
    {
        var (label, pinFile) = hsm.NewToken("sig");
        var token = HsmToken.Open(hsm.Module, label, PinSource.FromFile(pinFile));
        var pool = token.CreatePool("test", size);
        _owned.Add(pool);
        _owned.Add(token);
        return (token, pool);
    }

    [Fact]
    public void Rsa_pkcs1_signature_verifies_with_dotnet_and_digest_path_matches()
    {
        var (token, pool) = NewPool();
        token.GenerateKeyPair(KeyKind.Rsa, "ca-key");
        using var signer = Pkcs11Signer.Open(pool, "ca-key");
        var data = Encoding.UTF8.GetBytes("JPKI 公的個人認証サービス");

        var signature = signer.Sign(SignatureAlgorithm.RsaPkcs1Sha256, data);

        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(signer.SubjectPublicKeyInfo, out _);
        Assert.Equal(2048, rsa.KeySize);
        Assert.True(rsa.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        // PKCS#1 v1.5 is deterministic: signing the caller's digest gives the same bytes.
        Assert.Equal(signature, signer.SignDigest(SignatureAlgorithm.RsaPkcs1Sha256, SHA256.HashData(data)));
        Assert.False(rsa.VerifyData(data.Append((byte)0).ToArray(), signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public void Rsa_pss_signature_verifies_with_dotnet()
    {
        var (token, pool) = NewPool();
        token.GenerateKeyPair(KeyKind.Rsa, "pss-key");
        using var signer = Pkcs11Signer.Open(pool, "pss-key");
        var data = RandomNumberGenerator.GetBytes(1000);

        var signature = signer.Sign(SignatureAlgorithm.RsaPssSha256, data);

        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(signer.SubjectPublicKeyInfo, out _);
        Assert.True(rsa.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss));
    }

    [Fact]
    public void Ecdsa_p256_signature_is_der_and_verifies_with_dotnet()
    {
        var (token, pool) = NewPool();
        token.GenerateKeyPair(KeyKind.EcP256, "ec-key");
        using var signer = Pkcs11Signer.Open(pool, "ec-key");
        Assert.Equal(KeyKind.EcP256, signer.KeyKind);
        var data = Encoding.ASCII.GetBytes("checkpoint 42");

        var signature = signer.Sign(SignatureAlgorithm.EcdsaSha256, data);

        Assert.Equal(0x30, signature[0]); // DER SEQUENCE, not raw r||s
        using var ec = ECDsa.Create();
        ec.ImportSubjectPublicKeyInfo(signer.SubjectPublicKeyInfo, out _);
        Assert.True(ec.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
    }

    [Fact]
    public void Wrong_algorithm_or_digest_length_is_a_usage_error()
    {
        var (token, pool) = NewPool();
        token.GenerateKeyPair(KeyKind.EcP256, "ec-key");
        using var signer = Pkcs11Signer.Open(pool, "ec-key");

        var e = Assert.Throws<HsmUsageException>(() => signer.Sign(SignatureAlgorithm.RsaPkcs1Sha256, [1, 2, 3]));
        Assert.Contains("EcP256", e.Message, StringComparison.Ordinal);
        Assert.Throws<HsmUsageException>(() => signer.SignDigest(SignatureAlgorithm.EcdsaSha256, new byte[20]));
    }

    [Fact]
    public void Missing_key_is_a_typed_error()
    {
        var (_, pool) = NewPool();
        var e = Assert.Throws<HsmKeyNotFoundException>(() => Pkcs11Signer.Open(pool, "no-such-key"));
        Assert.Equal("no-such-key", e.KeyLabel);
        Assert.Equal(HsmHealthStatus.Healthy, pool.Health.Status);
    }

    [Fact]
    public void Generated_keys_are_sensitive_never_extractable_and_sign_only()
    {
        var (token, _) = NewPool();
        token.GenerateKeyPair(KeyKind.Rsa, "rsa");
        token.GenerateKeyPair(KeyKind.EcP256, "ec");
        token.GenerateHmacKey("hmac");

        foreach (var label in new[] { "rsa", "ec", "hmac" })
        {
            var p = token.DescribeKey(label);
            Assert.True(p.Sensitive, label);
            Assert.False(p.Extractable, label);
            Assert.True(p.NeverExtractable, label);
            Assert.True(p.AlwaysSensitive, label);
            Assert.False(p.Decrypt, label);
            Assert.False(p.Unwrap, label);
            Assert.True(p.Sign, label);
            Assert.True(p.OnToken, label);
        }

        Assert.Equal(["ec", "hmac", "rsa"], token.KeyLabels());
    }

    [Fact]
    public void Secret_values_cannot_be_read_out_of_the_token()
    {
        var (token, pool) = NewPool();
        token.GenerateKeyPair(KeyKind.Rsa, "rsa");
        token.GenerateHmacKey("hmac");

        var readable = pool.Execute(session =>
        {
            var f = token.Factories.ObjectAttributeFactory;
            var rsa = token.FindObject(session, Net.Pkcs11Interop.Common.CKO.CKO_PRIVATE_KEY, "rsa")!;
            var hmac = token.FindObject(session, Net.Pkcs11Interop.Common.CKO.CKO_SECRET_KEY, "hmac")!;
            var d = session.GetAttributeValue(rsa, [Net.Pkcs11Interop.Common.CKA.CKA_PRIVATE_EXPONENT])[0];
            var v = session.GetAttributeValue(hmac, [Net.Pkcs11Interop.Common.CKA.CKA_VALUE])[0];
            return (d.CannotBeRead, v.CannotBeRead);
        });

        Assert.True(readable.Item1, "private exponent must not be readable");
        Assert.True(readable.Item2, "HMAC key value must not be readable");
    }

    [Fact]
    public void Hmac_is_deterministic_per_key_and_differs_between_keys()
    {
        var (token, pool) = NewPool();
        token.GenerateHmacKey("resident-hmac-v1");
        token.GenerateHmacKey("resident-hmac-v2");
        using var v1 = Pkcs11Hmac.Open(pool, "resident-hmac-v1");
        using var v2 = Pkcs11Hmac.Open(pool, "resident-hmac-v2");
        var code = Encoding.ASCII.GetBytes("12345678901");

        var a = v1.Compute(code);

        Assert.Equal(32, a.Length);
        Assert.Equal(a, v1.Compute(code));
        Assert.NotEqual(a, v1.Compute(Encoding.ASCII.GetBytes("12345678902")));
        Assert.NotEqual(a, v2.Compute(code));
        Assert.Throws<HsmKeyNotFoundException>(() => Pkcs11Hmac.Open(pool, "resident-hmac-v9"));
    }

    [Fact]
    public async Task Concurrent_signers_share_a_small_pool()
    {
        var (token, pool) = NewPool(size: 2);
        token.GenerateKeyPair(KeyKind.EcP256, "ec");
        using var signer = Pkcs11Signer.Open(pool, "ec");
        using var ec = ECDsa.Create();
        ec.ImportSubjectPublicKeyInfo(signer.SubjectPublicKeyInfo, out _);

        var tasks = Enumerable.Range(0, 8).Select(i => Task.Run(() =>
        {
            for (var j = 0; j < 50; j++)
            {
                var data = BitConverter.GetBytes((i * 1000) + j);
                var sig = signer.Sign(SignatureAlgorithm.EcdsaSha256, data);
                Assert.True(ec.VerifyData(data, sig, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
            }
        }));
        await Task.WhenAll(tasks);
        Assert.Equal(HsmHealthStatus.Healthy, pool.Health.Status);
    }

    public void Dispose()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }
    }
}
