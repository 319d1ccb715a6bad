using Jpki.Core.Profiles;
using Jpki.Hsm;
using Org.BouncyCastle.Security;

namespace Jpki.Core.Tests.Profiles;

public class SignerSignatureFactoryTests
{
    private const int ChunkSize = 64 * 1024;
    private const long FiftyMegabytes = 50L * 1024 * 1024;

    [Fact]
    public void AlgorithmDetails_is_the_algorithms_identifier()
    {
        var factory = new SignerSignatureFactory(SoftwareKeys.Root, SignatureAlgorithm.RsaPkcs1Sha256);

        Assert.Same(SignatureAlgorithm.RsaPkcs1Sha256.Identifier, factory.AlgorithmDetails);
    }

    [Fact]
    public void Streams_50_MB_without_buffering_and_the_signature_verifies()
    {
        var factory = new SignerSignatureFactory(SoftwareKeys.Root, SignatureAlgorithm.RsaPkcs1Sha256);
        var chunk = new byte[ChunkSize];
        var calculator = factory.CreateCalculator();

        var before = GC.GetAllocatedBytesForCurrentThread();
        using (var stream = calculator.Stream)
        {
            for (long written = 0, index = 0; written < FiftyMegabytes; written += ChunkSize, index++)
            {
                FillChunk(chunk, index);
                stream.Write(chunk, 0, chunk.Length);

                // Single bytes too: DER encoders write tags and lengths this way.
                stream.WriteByte((byte)index);
            }
        }

        var signature = calculator.GetResult().Collect();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(allocated < 1024 * 1024, $"{allocated} bytes allocated while streaming 50 MB");

        var verifier = SignerUtilities.GetSigner("SHA256withRSA");
        verifier.Init(false, SoftwareKeys.Root.PublicKey);
        for (long written = 0, index = 0; written < FiftyMegabytes; written += ChunkSize, index++)
        {
            FillChunk(chunk, index);
            verifier.BlockUpdate(chunk, 0, chunk.Length);
            verifier.Update((byte)index);
        }

        Assert.True(verifier.VerifySignature(signature));
    }

    [Theory]
    [InlineData("ecdsa-with-SHA256", "SHA256withECDSA")]
    [InlineData("rsassaPss-sha256", "SHA256withRSAandMGF1")]
    [InlineData("sha256WithRSAEncryption", "SHA256withRSA")]
    public void Each_algorithm_makes_signatures_BouncyCastle_verifies(string algorithmName, string verifierName)
    {
        var algorithm = new[] { SignatureAlgorithm.EcdsaSha256, SignatureAlgorithm.RsaPssSha256, SignatureAlgorithm.RsaPkcs1Sha256 }
            .Single(a => a.Name == algorithmName);
        var key = algorithm.KeyKind == KeyKind.Rsa ? SoftwareKeys.Root : SoftwareKeys.Checkpoint;
        var data = "JPKI 公的個人認証"u8.ToArray();

        var calculator = new SignerSignatureFactory(key, algorithm).CreateCalculator();
        calculator.Stream.Write(data);
        var signature = calculator.GetResult().Collect();

        var verifier = SignerUtilities.GetSigner(verifierName);
        verifier.Init(false, key.PublicKey);
        verifier.BlockUpdate(data, 0, data.Length);
        Assert.True(verifier.VerifySignature(signature));
    }

    [Fact]
    public void A_calculator_signs_once()
    {
        var calculator = new SignerSignatureFactory(SoftwareKeys.Checkpoint, SignatureAlgorithm.EcdsaSha256).CreateCalculator();
        calculator.GetResult();

        Assert.Throws<ObjectDisposedException>(() => calculator.GetResult());
        Assert.Throws<ObjectDisposedException>(() => calculator.Stream.WriteByte(1));
    }

    [Fact]
    public void A_key_kind_that_does_not_fit_the_algorithm_is_refused_naming_both()
    {
        var error = Assert.Throws<ArgumentException>(() => new SignerSignatureFactory(SoftwareKeys.Checkpoint, SignatureAlgorithm.RsaPkcs1Sha256));

        Assert.Contains("sha256WithRSAEncryption needs a Rsa key", error.Message, StringComparison.Ordinal);
        Assert.Contains("EcP256", error.Message, StringComparison.Ordinal);
    }

    private static void FillChunk(byte[] chunk, long index)
    {
        // Content differs per chunk so that a dropped or repeated chunk changes the digest.
        for (var i = 0; i < chunk.Length; i++)
        {
            chunk[i] = (byte)(i + (index * 31));
        }
    }
}
