using Jpki.Core.Issuance;
using Jpki.Core.Profiles;
using Jpki.Core.Tests.Profiles;

namespace Jpki.Core.Tests.Issuance;

/// <summary>
/// A stock JDK CertPathValidator (PKIX) as a third independent checker. JPKI's certificatePolicies
/// is critical and carries a CPS qualifier, which PKIX rejects unless the verifier accepts policy
/// qualifiers (RFC 5280 §4.2.1.4 lets it); both outcomes are asserted.
/// </summary>
public sealed class JdkPathValidatorTests : IDisposable
{
    /// <summary>Run with <c>java Validate.java root.pem leaf.pem policyOid rejectQualifiers</c>; prints VALID or the failure.</summary>
    private const string ValidatorSource = """
        import java.io.FileInputStream;
        import java.security.cert.*;
        import java.util.*;

        public class Validate {
            public static void main(String[] args) throws Exception {
                CertificateFactory factory = CertificateFactory.getInstance("X.509");
                X509Certificate root, leaf;
                try (var in = new FileInputStream(args[0])) { root = (X509Certificate) factory.generateCertificate(in); }
                try (var in = new FileInputStream(args[1])) { leaf = (X509Certificate) factory.generateCertificate(in); }
                PKIXParameters parameters = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
                parameters.setRevocationEnabled(false);
                parameters.setExplicitPolicyRequired(true);
                parameters.setInitialPolicies(Set.of(args[2]));
                parameters.setPolicyQualifiersRejected(Boolean.parseBoolean(args[3]));
                try {
                    CertPathValidator.getInstance("PKIX").validate(factory.generateCertPath(List.of(leaf)), parameters);
                    System.out.println("VALID");
                } catch (CertPathValidatorException e) {
                    System.out.println("INVALID: " + e.getMessage());
                    System.exit(2);
                }
            }
        }
        """;

    private readonly ScratchDirectory _scratch = new();

    public JdkPathValidatorTests() => _scratch.WriteBytes("Validate.java", System.Text.Encoding.UTF8.GetBytes(ValidatorSource));

    public void Dispose() => _scratch.Dispose();

    [Theory]
    [InlineData(IssuerKind.Signing, JpkiOids.SigningPolicy)]
    [InlineData(IssuerKind.Authentication, JpkiOids.AuthenticationPolicy)]
    public void PKIX_validates_both_kinds_when_policy_qualifiers_are_accepted_and_not_otherwise(IssuerKind kind, string policy)
    {
        var now = DateTimeOffset.UtcNow;
        var root = IssuanceInputs.Root(kind, now.AddMinutes(-10));
        var rootPem = _scratch.WritePem("root.pem", root);
        var leafPem = _scratch.WritePem("leaf.pem", IssuanceInputs.Issue(IssuanceInputs.Request(kind, root, now)).Der);

        var accepted = ExternalProcess.RunIn(_scratch.Path, "java", "Validate.java", rootPem, leafPem, policy, "false");
        var rejected = ExternalProcess.RunIn(_scratch.Path, "java", "Validate.java", rootPem, leafPem, policy, "true");

        Assert.True(accepted.ExitCode == 0, accepted.ToString());
        Assert.Contains("VALID", accepted.Output, StringComparison.Ordinal);
        Assert.Equal(2, rejected.ExitCode);
        Assert.Contains("INVALID: critical policy qualifiers present in certificate", rejected.Output, StringComparison.Ordinal);
    }
}
