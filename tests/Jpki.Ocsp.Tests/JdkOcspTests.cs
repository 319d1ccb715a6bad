using Jpki.Core.Revocation;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// A stock JDK CertPathValidator (PKIX) judging JPKI-profile certificates from the OCSP answer this
/// responder served, handed over with <c>PKIXRevocationChecker.setOcspResponses</c> (OCSP only, no
/// fallback to CRLs, end entity only). The JDK checks the response itself: CertID match, signature by a
/// delegated responder certificate issued by the issuer with id-kp-OCSPSigning, thisUpdate/nextUpdate
/// around now. JPKI's critical certificatePolicies with a CPS qualifier is accepted by
/// setPolicyQualifiersRejected(false).
/// </summary>
[Collection(OcspTestGroup.Name)]
public sealed class JdkOcspTests(OcspFixture fixture)
{
    /// <summary><c>java OcspCheck.java root.pem leaf.pem response.der</c>: prints VALID, or INVALID and the reason.</summary>
    private const string ValidatorSource = """
        import java.io.FileInputStream;
        import java.nio.file.*;
        import java.security.Security;
        import java.security.cert.*;
        import java.util.*;

        public class OcspCheck {
            public static void main(String[] args) throws Exception {
                Security.setProperty("ocsp.enable", "false"); // nothing fetched: the given answer is the only source
                CertificateFactory factory = CertificateFactory.getInstance("X.509");
                X509Certificate root, leaf;
                try (var in = new FileInputStream(args[0])) { root = (X509Certificate) factory.generateCertificate(in); }
                try (var in = new FileInputStream(args[1])) { leaf = (X509Certificate) factory.generateCertificate(in); }
                byte[] response = Files.readAllBytes(Path.of(args[2]));
                CertPathValidator validator = CertPathValidator.getInstance("PKIX");
                PKIXRevocationChecker checker = (PKIXRevocationChecker) validator.getRevocationChecker();
                checker.setOptions(EnumSet.of(PKIXRevocationChecker.Option.ONLY_END_ENTITY, PKIXRevocationChecker.Option.NO_FALLBACK));
                checker.setOcspResponses(Map.of(leaf, response));
                PKIXParameters parameters = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
                parameters.setRevocationEnabled(true);
                parameters.setPolicyQualifiersRejected(false);
                parameters.addCertPathChecker(checker);
                try {
                    validator.validate(factory.generateCertPath(List.of(leaf)), parameters);
                    System.out.println("VALID");
                } catch (CertPathValidatorException e) {
                    System.out.println("INVALID: " + e.getReason() + ": " + e.getMessage());
                    System.exit(2);
                }
            }
        }
        """;

    [Fact]
    public async Task The_JDK_judges_a_good_and_a_revoked_JPKI_certificate_from_the_fetched_OCSP_answer()
    {
        var keyId = fixture.AuthenticationKeyId;
        var source = Path.Combine(fixture.Root, "OcspCheck.java");
        File.WriteAllText(source, ValidatorSource);
        var good = fixture.IssueJpki(keyId);
        var revoked = fixture.IssueJpki(keyId);
        fixture.Revoke(revoked.Serial, RevocationCause.CardLost);

        var goodAnswer = await FetchAsync(keyId, good.Serial, "jdk-good.der");
        var revokedAnswer = await FetchAsync(keyId, revoked.Serial, "jdk-revoked.der");

        var onGood = await ExternalProcess.RunAsync("java", source, fixture.RootPemPath(keyId), good.PemPath, goodAnswer);
        Assert.True(onGood.ExitCode == 0 && onGood.Output.Contains("VALID", StringComparison.Ordinal), onGood.Output);

        var onRevoked = await ExternalProcess.RunAsync("java", source, fixture.RootPemPath(keyId), revoked.PemPath, revokedAnswer);
        Assert.Equal(2, onRevoked.ExitCode);
        Assert.Contains("INVALID: REVOKED", onRevoked.Output, StringComparison.Ordinal);
        Assert.Contains("KEY_COMPROMISE", onRevoked.Output, StringComparison.Ordinal);

        // The good answer handed over for the revoked certificate names another serial: the JDK must not take it.
        var mismatched = await ExternalProcess.RunAsync("java", source, fixture.RootPemPath(keyId), revoked.PemPath, goodAnswer);
        Assert.Equal(2, mismatched.ExitCode);
        Assert.DoesNotContain("VALID\n", mismatched.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_JDK_judges_a_certificate_the_store_never_recorded_as_of_unknown_revocation_status()
    {
        var keyId = fixture.AuthenticationKeyId;
        var source = Path.Combine(fixture.Root, "OcspCheck.java");
        File.WriteAllText(source, ValidatorSource);

        // A genuine JPKI certificate of this issuer key (signed in the token, chains to the root)
        // that the store never recorded: the responder can only say 'unknown'. Asked by a verifier
        // of its own, so the fixture's small budget for unknown answers is not shared with other tests.
        var unrecorded = fixture.IssueJpki(keyId, record: false);
        Assert.Equal(0, fixture.Count("SELECT COUNT(*) FROM certificates WHERE serial = @serial", new { serial = unrecorded.Serial }));
        var token = fixture.AddVerifier("verifier-jdk-unknown");
        var answer = await FetchAsync(keyId, unrecorded.Serial, "jdk-unknown.der", token);
        var single = Assert.Single(OcspTestClient.Basic(File.ReadAllBytes(answer)).Responses);
        Assert.IsType<Org.BouncyCastle.Ocsp.UnknownStatus>(single.GetCertStatus());

        var onUnknown = await ExternalProcess.RunAsync("java", source, fixture.RootPemPath(keyId), unrecorded.PemPath, answer);
        Assert.Equal(2, onUnknown.ExitCode);
        Assert.Contains("INVALID: UNDETERMINED_REVOCATION_STATUS", onUnknown.Output, StringComparison.Ordinal);
        Assert.Contains("revocation status is unknown", onUnknown.Output, StringComparison.Ordinal);

        // A recorded certificate of the same issuer, checked the same way, is valid: the refusal above is the 'unknown' answer's doing.
        var good = fixture.IssueJpki(keyId);
        var goodAnswer = await FetchAsync(keyId, good.Serial, "jdk-good-for-unknown.der", token);
        var onGood = await ExternalProcess.RunAsync("java", source, fixture.RootPemPath(keyId), good.PemPath, goodAnswer);
        Assert.True(onGood.ExitCode == 0 && onGood.Output.Contains("VALID", StringComparison.Ordinal), onGood.Output);
    }

    private async Task<string> FetchAsync(string keyId, string serial, string name, string? token = null)
    {
        var issuer = new X509CertificateParser().ReadCertificate(File.ReadAllBytes(fixture.RootPemPath(keyId)));
        var (response, body) = await OcspTestClient.PostAsync(fixture.Http, fixture.Address, OcspTestClient.Request(issuer, new BigInteger(serial, 16)), token ?? fixture.Tokens[OcspFixture.Verifier]);
        Assert.True(response.IsSuccessStatusCode, response.ToString());
        Assert.Equal(0, OcspTestClient.Status(body));
        var path = Path.Combine(fixture.Root, name);
        File.WriteAllBytes(path, body);
        return path;
    }
}
