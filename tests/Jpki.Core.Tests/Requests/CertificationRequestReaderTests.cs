using System.Text;
using Jpki.Core.Requests;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Jpki.Core.Tests.Requests;

public sealed class CertificationRequestReaderTests
{
    private static readonly SecureRandom Random = new();
    private static readonly Lazy<AsymmetricCipherKeyPair> Good = new(() => Rsa(2048, 65537));

    [Fact]
    public void A_good_request_is_accepted_as_der_pem_and_base64()
    {
        var der = Csr(Good.Value.Public, Good.Value.Private);
        var pem = "-----BEGIN CERTIFICATE REQUEST-----\n" + Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks) + "\n-----END CERTIFICATE REQUEST-----\n";

        foreach (var input in new[] { der, Encoding.ASCII.GetBytes(pem), Encoding.ASCII.GetBytes(Convert.ToBase64String(der)) })
        {
            var request = CertificationRequestReader.Read(input);
            Assert.Equal(der, request.Der);
            Assert.Equal(SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(Good.Value.Public).GetDerEncoded(), request.SubjectPublicKeyInfo);
        }
    }

    [Fact]
    public void Openssl_made_request_is_accepted()
    {
        // An independent producer of PKCS#10: openssl req with a fresh RSA-2048 key.
        var dir = Directory.CreateTempSubdirectory("jpki-csr-").FullName;
        try
        {
            var key = Path.Combine(dir, "k.pem");
            var csr = Path.Combine(dir, "r.der");
            Assert.Equal(0, Run("openssl", "genrsa", "-out", key, "2048"));
            Assert.Equal(0, Run("openssl", "req", "-new", "-key", key, "-subj", "/C=JP/CN=card", "-outform", "DER", "-out", csr));
            var request = CertificationRequestReader.Read(File.ReadAllBytes(csr));
            Assert.NotEmpty(request.SubjectPublicKeyInfo);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a request at all")]
    [InlineData("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----")]
    [InlineData("MAMCAQE=")]
    public void Garbage_is_malformed(string text)
    {
        var e = Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(Encoding.ASCII.GetBytes(text)));
        Assert.Equal(CsrProblem.Malformed, e.Problem);
    }

    [Fact]
    public void Trailing_bytes_and_truncation_are_malformed()
    {
        var der = Csr(Good.Value.Public, Good.Value.Private);
        Assert.Equal(CsrProblem.Malformed, Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read([.. der, 0x00])).Problem);
        Assert.Equal(CsrProblem.Malformed, Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(der.AsSpan(0, der.Length - 10))).Problem);
    }

    [Fact]
    public void Oversized_input_is_refused_before_parsing()
    {
        var e = Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(new byte[CertificationRequestReader.MaxBytes + 1]));
        Assert.Equal(CsrProblem.TooLarge, e.Problem);
    }

    [Fact]
    public void A_request_signed_by_another_key_has_no_proof_of_possession()
    {
        var other = Rsa(2048, 65537);
        var e = Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(Csr(Good.Value.Public, other.Private)));
        Assert.Equal(CsrProblem.BadSignature, e.Problem);
    }

    [Fact]
    public void A_flipped_signature_bit_is_caught()
    {
        var der = Csr(Good.Value.Public, Good.Value.Private);
        der[^5] ^= 0x01;
        Assert.Equal(CsrProblem.BadSignature, Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(der)).Problem);
    }

    [Fact]
    public void Ec_1024_bit_and_e3_keys_are_refused_each_with_its_reason()
    {
        var ecGenerator = new ECKeyPairGenerator();
        ecGenerator.Init(new ECKeyGenerationParameters(Org.BouncyCastle.Asn1.Sec.SecObjectIdentifiers.SecP256r1, Random));
        var ec = ecGenerator.GenerateKeyPair();
        var ecCsr = new Pkcs10CertificationRequest(new Asn1SignatureFactory("SHA256WITHECDSA", ec.Private), new X509Name("CN=card"), ec.Public, null);
        Assert.Equal(CsrProblem.UnsupportedKeyType, Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(ecCsr.GetEncoded())).Problem);

        var small = Rsa(1024, 65537);
        Assert.Equal(CsrProblem.WrongKeySize, Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(Csr(small.Public, small.Private))).Problem);

        var e3 = Rsa(2048, 3);
        Assert.Equal(CsrProblem.WrongExponent, Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(Csr(e3.Public, e3.Private))).Problem);
    }

    [Fact]
    public void A_modulus_with_a_small_factor_is_refused()
    {
        BigInteger n;
        do
        {
            n = BigInteger.ValueOf(751).Multiply(BigInteger.ProbablePrime(2038, Random));
        }
        while (n.BitLength != 2048);

        var e = Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(Csr(new RsaKeyParameters(false, n, BigInteger.ValueOf(65537)), Good.Value.Private)));
        Assert.Equal(CsrProblem.SmallFactor, e.Problem);
        Assert.Contains("751", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_roca_structured_modulus_is_refused_and_random_ones_are_not()
    {
        // RSALib primes: p = k·M + (65537^a mod M), M the product of small primes (here the
        // detection primes), k and a random. Their product carries the fingerprint.
        var m = new[] { 11, 13, 17, 19, 37, 53, 61, 71, 73, 79, 97, 103, 107, 109, 127, 151, 157 }
            .Aggregate(BigInteger.One, (acc, p) => acc.Multiply(BigInteger.ValueOf(p)));
        var n = RocaPrime(m).Multiply(RocaPrime(m));
        Assert.Equal(2048, n.BitLength);

        Assert.True(GoodKey.HasRocaFingerprint(n));
        var e = Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(Csr(new RsaKeyParameters(false, n, BigInteger.ValueOf(65537)), Good.Value.Private)));
        Assert.Equal(CsrProblem.RocaVulnerable, e.Problem);

        for (var i = 0; i < 5; i++)
        {
            Assert.False(GoodKey.HasRocaFingerprint(((RsaKeyParameters)Rsa(2048, 65537).Public).Modulus));
        }
    }

    [Fact]
    public void Primes_close_enough_for_fermat_are_refused()
    {
        BigInteger p;
        BigInteger q;
        do
        {
            p = BigInteger.ProbablePrime(1024, Random);
            q = p.Add(BigInteger.One.ShiftLeft(300)).NextProbablePrime();
        }
        while (p.Multiply(q).BitLength != 2048);

        var n = p.Multiply(q);
        Assert.Equal(p, GoodKey.FermatFactor(n));
        var e = Assert.Throws<CsrRejectedException>(() => CertificationRequestReader.Read(Csr(new RsaKeyParameters(false, n, BigInteger.ValueOf(65537)), Good.Value.Private)));
        Assert.Equal(CsrProblem.FermatFactorable, e.Problem);
        Assert.Null(GoodKey.FermatFactor(((RsaKeyParameters)Good.Value.Public).Modulus));
    }

    [Fact]
    public void Integer_square_root_is_exact()
    {
        foreach (var v in new long[] { 1, 2, 3, 4, 15, 16, 17, 99_999_999_999 })
        {
            var r = GoodKey.IntegerSqrt(BigInteger.ValueOf(v)).LongValue;
            Assert.True(r * r <= v && (r + 1) * (r + 1) > v, $"isqrt({v}) = {r}");
        }
    }

    /// <summary>
    /// A prime k·M + (65537^a mod M) with p² ≥ 2^2047, so that the product of two has exactly
    /// 2048 bits. Bounded: a miss after 100 000 candidates fails the test instead of hanging.
    /// </summary>
    private static BigInteger RocaPrime(BigInteger m)
    {
        var g = BigInteger.ValueOf(65537);
        for (var i = 0; i < 100_000; i++)
        {
            var a = new BigInteger(64, Random);
            var k = new BigInteger(1025 - m.BitLength, Random);
            var p = k.Multiply(m).Add(g.ModPow(a, m));
            if (p.BitLength == 1024 && p.Multiply(p).BitLength == 2048 && p.IsProbablePrime(40))
            {
                return p;
            }
        }

        throw new InvalidOperationException("no RSALib-structured prime found in 100 000 candidates");
    }

    private static AsymmetricCipherKeyPair Rsa(int bits, long exponent)
    {
        var generator = new RsaKeyPairGenerator();
        generator.Init(new RsaKeyGenerationParameters(BigInteger.ValueOf(exponent), Random, bits, 80));
        return generator.GenerateKeyPair();
    }

    /// <summary>A PKCS#10 request carrying <paramref name="publicKey"/>, signed with <paramref name="signingKey"/>.</summary>
    private static byte[] Csr(AsymmetricKeyParameter publicKey, AsymmetricKeyParameter signingKey) =>
        new Pkcs10CertificationRequest(new Asn1SignatureFactory("SHA256WITHRSA", signingKey), new X509Name("C=JP, CN=card"), publicKey, null).GetEncoded();

    private static int Run(string file, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = System.Diagnostics.Process.Start(psi)!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode;
    }
}
