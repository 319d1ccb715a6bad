using System.Security.Cryptography;
using Jpki.Core.Issuance;
using Jpki.Core.Profiles;
using Jpki.Core.Tests.Profiles;
using Jpki.Hsm;

namespace Jpki.Core.Tests.Issuance;

/// <summary>Lint before signing, and sign exactly what was linted.</summary>
public sealed class CertificateIssuerTests
{
    private static readonly byte[] Root = IssuanceInputs.Root(IssuerKind.Signing);

    /// <summary>Counts signatures, and can sign other bytes than it was given (a faulty or hostile HSM path).</summary>
    private sealed class RecordingSigner(ISigner inner, bool signOtherBytes = false) : ISigner
    {
        public int Signatures { get; private set; }

        public byte[] SubjectPublicKeyInfo => inner.SubjectPublicKeyInfo;

        public KeyKind KeyKind => inner.KeyKind;

        public byte[] Sign(SignatureAlgorithm algorithm, ReadOnlySpan<byte> data)
        {
            Signatures++;
            if (!signOtherBytes)
            {
                return inner.Sign(algorithm, data);
            }

            var other = data.ToArray();
            other[^1] ^= 0x01;
            return inner.Sign(algorithm, other);
        }

        public byte[] SignDigest(SignatureAlgorithm algorithm, ReadOnlySpan<byte> digest)
        {
            Signatures++;
            return inner.SignDigest(algorithm, digest);
        }
    }

    [Fact]
    public void Issue_returns_the_certificate_the_hash_of_its_linted_TBS_and_the_CRL_DP()
    {
        var signer = new RecordingSigner(SoftwareKeys.Root);
        var request = IssuanceInputs.Request(IssuerKind.Signing, Root);

        var issued = CertificateIssuer.Issue(request, signer);

        var tbs = EndEntityProfileTests.TbsOf(issued.Der);
        Assert.Equal(SHA256.HashData(tbs), issued.TbsSha256);
        Assert.Equal(EndEntityTbsBuilder.Build(request).Der, tbs); // deterministic: the same request builds the same TBS
        Assert.Equal(new CertificateDer(issued.Der).Extension(CertificateDer.CrlDistributionPoints).Value, issued.CrlDistributionPointsDer);
        Assert.Equal(1, signer.Signatures);
    }

    [Fact]
    public void A_lint_failure_throws_before_anything_is_signed()
    {
        // Validity computed against an issuer that lives longer than the real one: the TBS would
        // outlive its issuer, which the builder writes as told and the lint refuses.
        var late = new DateTimeOffset(2034, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var request = IssuanceInputs.Request(IssuerKind.Signing, Root, late) with
        {
            Validity = CertificateValidity.Compute(late, IssuanceInputs.Facts.DateOfBirth, IssuerKind.Signing, null, null, new DateTimeOffset(2049, 1, 1, 14, 59, 59, TimeSpan.Zero)),
        };
        var signer = new RecordingSigner(SoftwareKeys.Root);

        var e = Assert.Throws<LintException>(() => CertificateIssuer.Issue(request, signer));

        Assert.Contains(e.Findings, f => f.Rule == PreIssuanceLint.ValidityWithinIssuer);
        Assert.Equal(0, signer.Signatures);
    }

    [Fact]
    public void A_signer_that_signs_other_bytes_than_the_linted_TBS_is_caught()
    {
        var signer = new RecordingSigner(SoftwareKeys.Root, signOtherBytes: true);

        var e = Assert.Throws<IssuanceIntegrityException>(() => CertificateIssuer.Issue(IssuanceInputs.Request(IssuerKind.Signing, Root), signer));

        Assert.Contains("does not verify over the linted TBSCertificate", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, signer.Signatures);
    }

    [Fact]
    public void A_certificate_whose_TBS_is_not_the_linted_one_is_caught_by_its_SHA256()
    {
        var request = IssuanceInputs.Request(IssuerKind.Signing, Root);
        var linted = EndEntityTbsBuilder.Build(request).Der;

        // A TBS with one field changed after linting, correctly signed: only the hash comparison catches it.
        var changed = new TbsMutator(linted);
        changed.Fields[TbsMutator.Serial] = TbsMutator.Der(w => w.WriteInteger(SerialNumbers.New().ToByteArray()));
        var changedTbs = changed.Encode();
        var certificate = CertificateIssuer.Assemble(changedTbs, SoftwareKeys.Root.Sign(SignatureAlgorithm.RsaPkcs1Sha256, changedTbs));

        using var rootKey = new IssuerPublicKey(Root);
        var e = Assert.Throws<IssuanceIntegrityException>(() =>
            CertificateIssuer.EnsureSignedWhatWasLinted(SHA256.HashData(linted), certificate, rootKey));

        Assert.Contains("SHA-256 differs", e.Message, StringComparison.Ordinal);
        CertificateIssuer.EnsureSignedWhatWasLinted(SHA256.HashData(changedTbs), certificate, rootKey);
    }

    [Fact]
    public void A_signer_whose_key_is_not_the_issuer_certificates_is_refused_before_signing()
    {
        var signer = new RecordingSigner(SoftwareKeys.Rsa);

        Assert.Throws<ArgumentException>(() => CertificateIssuer.Issue(IssuanceInputs.Request(IssuerKind.Signing, Root), signer));
        Assert.Equal(0, signer.Signatures);
    }

    [Fact]
    public void A_verification_key_that_is_not_the_issuer_certificates_is_refused_before_signing()
    {
        var signer = new RecordingSigner(SoftwareKeys.Root);
        using var otherKey = new IssuerPublicKey(new RootCertificateBuilder(SoftwareKeys.Rsa, SignatureAlgorithm.RsaPkcs1Sha256).Build(TestIssuers.RootRequest(IssuerKind.Signing, null, 10)));

        var e = Assert.Throws<ArgumentException>(() => CertificateIssuer.Issue(IssuanceInputs.Request(IssuerKind.Signing, Root), signer, otherKey));

        Assert.Equal("issuerPublicKey", e.ParamName);
        Assert.Equal(0, signer.Signatures);
    }

    [Fact]
    public void One_issuer_public_key_serves_concurrent_issuances_and_still_refuses_a_bad_signature()
    {
        using var rootKey = new IssuerPublicKey(Root);
        var certificates = new IssuedCertificate[16];

        Parallel.For(0, certificates.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
            certificates[i] = CertificateIssuer.Issue(IssuanceInputs.Request(IssuerKind.Signing, Root), SoftwareKeys.Root, rootKey));

        Assert.Equal(16, certificates.Select(c => Convert.ToHexString(c.Der)).Distinct().Count());
        var tbs = EndEntityTbsBuilder.Build(IssuanceInputs.Request(IssuerKind.Signing, Root)).Der;
        var signature = SoftwareKeys.Root.Sign(SignatureAlgorithm.RsaPkcs1Sha256, tbs);
        Assert.True(rootKey.VerifySha256Pkcs1(tbs, signature));
        signature[^1] ^= 1;
        Assert.False(rootKey.VerifySha256Pkcs1(tbs, signature));
    }

    [Fact]
    public void A_request_that_does_not_fit_its_issuer_is_refused()
    {
        var authenticationRoot = IssuanceInputs.Root(IssuerKind.Authentication);

        // A signing request against the authentication root.
        var e = Assert.Throws<ArgumentException>(() =>
            CertificateIssuer.Issue(IssuanceInputs.Request(IssuerKind.Signing, Root) with { IssuerCertificate = authenticationRoot }, SoftwareKeys.Root));
        Assert.Contains("not the Signing issuer", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2026120112300000042123456")] // too short
    [InlineData("20261301123000000421234567AB")] // month 13
    [InlineData("202612011230000004212345-7AB")] // window id not alphanumeric
    public void A_malformed_issuance_id_is_refused(string id)
    {
        var e = Assert.Throws<ArgumentException>(() =>
            EndEntityTbsBuilder.Build(IssuanceInputs.Request(IssuerKind.Signing, Root) with { SubjectId = id }));
        Assert.Equal(nameof(EndEntityRequest.SubjectId), e.ParamName);
    }

    [Fact]
    public void Facts_are_required_for_signing_and_refused_for_authentication()
    {
        var authenticationRoot = IssuanceInputs.Root(IssuerKind.Authentication);

        Assert.Throws<ArgumentException>(() => EndEntityTbsBuilder.Build(IssuanceInputs.Request(IssuerKind.Signing, Root) with { Facts = null }));
        Assert.Throws<ArgumentException>(() =>
            EndEntityTbsBuilder.Build(IssuanceInputs.Request(IssuerKind.Authentication, authenticationRoot) with { Facts = IssuanceInputs.Facts }));
    }

    [Fact]
    public void A_holder_key_other_than_RSA_2048_with_e_65537_is_refused()
    {
        Assert.Throws<ArgumentException>(() =>
            EndEntityTbsBuilder.Build(IssuanceInputs.Request(IssuerKind.Signing, Root) with { SubjectPublicKeyInfo = SoftwareKeys.Responder.SubjectPublicKeyInfo }));
    }

    [Fact]
    public void An_address_outside_the_prefecture_is_refused()
    {
        var facts = new ResidentFacts("山田\u3000太郎", "00000", ResidentSex.Male, new JpkiBirthDate(3, 1970, 1, 1), "広島県広島市", "000000");

        Assert.Throws<ArgumentException>(() => EndEntityTbsBuilder.Build(IssuanceInputs.Request(IssuerKind.Signing, Root) with { Facts = facts }));
    }
}
