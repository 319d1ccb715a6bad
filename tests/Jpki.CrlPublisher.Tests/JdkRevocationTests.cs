using Jpki.Core.Revocation;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// A stock JDK CertPathValidator (PKIX) with revocation on, OCSP off (<c>ocsp.enable=false</c>;
/// PKIXRevocationChecker with ONLY_END_ENTITY, PREFER_CRLS, NO_FALLBACK) and the partition CRL as its only
/// source: the JDK matches the CRL's issuingDistributionPoint against the certificate's CRL DP
/// strictly, so a partition CRL with any other IDP would leave it unable to decide.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class JdkRevocationTests(CrlFixture crl)
{
    /// <summary><c>java Revocation.java root.pem leaf.pem crl.der</c>: prints VALID, or INVALID and the reason.</summary>
    private const string ValidatorSource = """
        import java.io.FileInputStream;
        import java.security.Security;
        import java.security.cert.*;
        import java.util.*;

        public class Revocation {
            public static void main(String[] args) throws Exception {
                Security.setProperty("ocsp.enable", "false");
                CertificateFactory factory = CertificateFactory.getInstance("X.509");
                X509Certificate root, leaf;
                X509CRL crl;
                try (var in = new FileInputStream(args[0])) { root = (X509Certificate) factory.generateCertificate(in); }
                try (var in = new FileInputStream(args[1])) { leaf = (X509Certificate) factory.generateCertificate(in); }
                try (var in = new FileInputStream(args[2])) { crl = (X509CRL) factory.generateCRL(in); }
                CertPathValidator validator = CertPathValidator.getInstance("PKIX");
                PKIXRevocationChecker checker = (PKIXRevocationChecker) validator.getRevocationChecker();
                checker.setOptions(EnumSet.of(PKIXRevocationChecker.Option.ONLY_END_ENTITY, PKIXRevocationChecker.Option.PREFER_CRLS, PKIXRevocationChecker.Option.NO_FALLBACK));
                PKIXParameters parameters = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
                parameters.setRevocationEnabled(true);
                parameters.addCertPathChecker(checker);
                parameters.setPolicyQualifiersRejected(false);
                parameters.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(List.of(crl))));
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
    public async Task TheJdkJudgesAGoodAndARevokedCertificateFromTheirPartitionCrl()
    {
        var source = Path.Combine(crl.Ca.Root, "Revocation.java");
        File.WriteAllText(source, ValidatorSource);
        var revoked = await crl.IssueAsync("352039");
        var good = await crl.IssueAsync("352039");
        await crl.IssueAsync("352012");
        crl.Revoke(revoked.Serial, RevocationCause.CardLost);
        var partition = new CrlSeries(CrlFixture.SigningKey, CrlScopeKind.Municipality, "352039");
        var path = crl.Snapshot(crl.Services.Publisher.Publish(partition, delta: false, scheduled: false)!.Path, "jdk-partition.crl");

        var onGood = ExternalProcess.Run("java", source, crl.RootPem, good.PemPath, path);
        Assert.True(onGood.ExitCode == 0 && onGood.Output.Contains("VALID", StringComparison.Ordinal), onGood.Output);
        var onRevoked = ExternalProcess.Run("java", source, crl.RootPem, revoked.PemPath, path);
        Assert.Equal(2, onRevoked.ExitCode);
        Assert.Contains("INVALID: REVOKED", onRevoked.Output, StringComparison.Ordinal);
        Assert.Contains("KEY_COMPROMISE", onRevoked.Output, StringComparison.Ordinal);

        // Another municipality's partition CRL does not cover the certificate: the JDK cannot decide.
        var other = crl.Snapshot(crl.Services.Publisher.Publish(new CrlSeries(CrlFixture.SigningKey, CrlScopeKind.Municipality, "352012"), delta: false, scheduled: false)!.Path, "jdk-other.crl");
        var wrongPartition = ExternalProcess.Run("java", source, crl.RootPem, good.PemPath, other);
        Assert.Equal(2, wrongPartition.ExitCode);
        Assert.Contains("UNDETERMINED_REVOCATION_STATUS", wrongPartition.Output, StringComparison.Ordinal);
    }
}
