using Org.BouncyCastle.Asn1.X509;

namespace Jpki.Verifier.Tests;

/// <summary>
/// The profile checks on certificates the real CA never issues, made by a software CA that the
/// test trusts (no install needed). Revocation is left unconfigured, so the last check fails
/// with RevocationUnknown and the first failure is the profile's.
/// </summary>
public sealed class ProfileTests
{
    private static readonly byte[] Content = "%PDF-1.4 profile test\n"u8.ToArray();
    private readonly SoftwareCa ca = new(new X509Name("C=JP, O=JPKI, OU=JPKI for digital signature, OU=Test-ken"));

    private async Task<VerificationResult> VerifyAsync(LeafProfile profile)
    {
        var (_, signature) = ca.IssueAndSign(Content, profile);
        return await SignatureVerifier.VerifyAsync(Content, signature, new VerifierOptions { Roots = [ca.Root] });
    }

    [Fact]
    public async Task A_JPKI_signing_profile_with_critical_policies_and_a_CPS_qualifier_passes_every_check_but_revocation()
    {
        var result = await VerifyAsync(new LeafProfile());
        Assert.All(new[] { CheckKind.Signature, CheckKind.Chain, CheckKind.Validity, CheckKind.KeyUsage, CheckKind.Policy, CheckKind.SignerFacts }, kind =>
            Assert.Equal(CheckStatus.Passed, result[kind].Status));
        Assert.Contains("CPS http://example.invalid/cps", result[CheckKind.Policy].Detail, StringComparison.Ordinal);
        Assert.Equal(FailureReason.RevocationUnknown, result.FirstFailure!.Reason);
        Assert.False(result.IsValid);
        Assert.Equal("鈴木　一郎", result.Facts!.Name);
        Assert.Equal("昭和 1965-04-01", result.Facts.DateOfBirthText);
        Assert.Equal("male (1)", result.Facts.SexText);
        Assert.Equal("40", result.Facts.NameSubstitutes);
    }

    [Fact]
    public async Task An_authentication_style_key_usage_is_wrong_key_usage()
    {
        var result = await VerifyAsync(new LeafProfile { KeyUsage = KeyUsage.DigitalSignature });
        Assert.Equal(FailureReason.WrongKeyUsage, result.FirstFailure!.Reason);
        Assert.Contains("keyUsage is digitalSignature", result[CheckKind.KeyUsage].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_authentication_policy_or_no_policy_is_not_accepted()
    {
        Assert.Equal(FailureReason.PolicyNotAccepted, (await VerifyAsync(new LeafProfile { Policy = "1.2.392.200149.8.5.1.3.30" })).FirstFailure!.Reason);
        Assert.Equal(FailureReason.PolicyNotAccepted, (await VerifyAsync(new LeafProfile { Policy = null })).FirstFailure!.Reason);
    }

    [Fact]
    public async Task An_unknown_critical_extension_is_refused()
    {
        var result = await VerifyAsync(new LeafProfile { ExtraCriticalExtension = "1.2.3.4.5" });
        Assert.Equal(FailureReason.UnrecognizedCriticalExtension, result.FirstFailure!.Reason);
    }

    [Fact]
    public async Task A_certificate_without_the_four_facts_is_refused()
    {
        var result = await VerifyAsync(new LeafProfile { Facts = false });
        Assert.Equal(FailureReason.MissingSignerFacts, result.FirstFailure!.Reason);
        Assert.Null(result.Facts);
    }

    [Fact]
    public async Task Validity_is_checked_at_the_validation_time()
    {
        var (_, signature) = ca.IssueAndSign(Content, new LeafProfile { NotBefore = DateTime.UtcNow.AddDays(-10), NotAfter = DateTime.UtcNow.AddDays(-1) });
        var now = await SignatureVerifier.VerifyAsync(Content, signature, new VerifierOptions { Roots = [ca.Root] });
        Assert.Equal(FailureReason.Expired, now.FirstFailure!.Reason);
        var then = await SignatureVerifier.VerifyAsync(Content, signature, new VerifierOptions { Roots = [ca.Root], ValidationTime = DateTimeOffset.UtcNow.AddDays(-5) });
        Assert.Equal(CheckStatus.Passed, then[CheckKind.Validity].Status);
    }
}

/// <summary>Two key generations of one issuer name: the root is picked by key identifier, and only a trusted generation verifies.</summary>
public sealed class KeyGenerationTests
{
    private static readonly byte[] Content = "%PDF-1.4 key generations\n"u8.ToArray();

    [Fact]
    public async Task Every_key_generation_in_the_roots_is_trusted_and_the_right_one_is_picked()
    {
        var name = new X509Name("C=JP, O=JPKI, OU=JPKI for digital signature, OU=Test-ken");
        var generation1 = new SoftwareCa(name);
        var generation2 = new SoftwareCa(name);
        var (_, signature) = generation2.IssueAndSign(Content, new LeafProfile());

        var both = await SignatureVerifier.VerifyAsync(Content, signature, new VerifierOptions { Roots = [generation1.Root, generation2.Root] });
        Assert.Equal(CheckStatus.Passed, both[CheckKind.Chain].Status);
        Assert.Equal(generation2.Root.GetEncoded(), both.Chain[1].Der.ToArray());

        var onlyFirst = await SignatureVerifier.VerifyAsync(Content, signature, new VerifierOptions { Roots = [generation1.Root] });
        Assert.Equal(FailureReason.WrongIssuer, onlyFirst.FirstFailure!.Reason);
    }

    [Fact]
    public void A_roots_directory_keeps_every_self_signed_CA_and_skips_other_certificates()
    {
        var name = new X509Name("C=JP, O=JPKI, OU=JPKI for digital signature, OU=Test-ken");
        var generation1 = new SoftwareCa(name);
        var generation2 = new SoftwareCa(name);
        var (leaf, _) = generation1.IssueAndSign(Content, new LeafProfile());
        var directory = Directory.CreateTempSubdirectory("jpki-roots-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(directory, "g1.pem"), Pem(generation1.Root.GetEncoded()));
            File.WriteAllText(Path.Combine(directory, "g2.pem"), Pem(generation2.Root.GetEncoded()));
            File.WriteAllText(Path.Combine(directory, "responder.pem"), Pem(leaf.GetEncoded()));
            File.WriteAllText(Path.Combine(directory, "notes.pem"), "not a certificate");
            var roots = TrustAnchors.FromDirectory(directory);
            Assert.Equal(2, roots.Length);
            Assert.Contains(roots, r => r.Equals(generation1.Root));
            Assert.Contains(roots, r => r.Equals(generation2.Root));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static string Pem(byte[] der) =>
        $"-----BEGIN CERTIFICATE-----\n{Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks)}\n-----END CERTIFICATE-----\n";
}
