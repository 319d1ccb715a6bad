using System.Text.RegularExpressions;
using Jpki.Core.Revocation;
using Jpki.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// Issue 17: `./jpki hsm rollover` on a real SoftHSM token (the tool as a child process), then
/// independent relying parties — openssl and the JDK's PKIX builder — on certificates of both
/// generations under one DN, the CRLs of each generation's own series and OCSP answered by each
/// generation's own responder (openssl ocsp).
/// </summary>
// The CRL tests' install (one PKCS#11 module per process): its issuers' switch times lie weeks
// ahead, so the other tests of the collection keep issuing and publishing with generation 1.
[Collection(CrlTestGroup.Name)]
public sealed partial class RolloverTests(CrlFixture crl)
{
    private const string Issuer = "yamaguchi-ken-signing";
    private const string OldKey = "yamaguchi-ken-signing-g1";
    private const string NewKey = "yamaguchi-ken-signing-g2";

    /// <summary>
    /// <c>java Chain.java leaf.pem anchor1.pem[,anchor2.pem] [untrusted.pem ...]</c>: the JDK's PKIX
    /// CertPathBuilder finds the path itself (issuers by name and key identifier) from the anchors in
    /// the order given, at the instant of <c>-Dat=EPOCH-SECONDS</c>; prints VALID and the anchor's serial, or INVALID.
    /// </summary>
    private const string ChainSource = """
        import java.io.FileInputStream;
        import java.security.cert.*;
        import java.util.*;

        public class Chain {
            static X509Certificate load(CertificateFactory f, String path) throws Exception {
                try (var in = new FileInputStream(path)) { return (X509Certificate) f.generateCertificate(in); }
            }

            public static void main(String[] args) throws Exception {
                CertificateFactory factory = CertificateFactory.getInstance("X.509");
                X509Certificate leaf = load(factory, args[0]);
                Set<TrustAnchor> anchors = new LinkedHashSet<>();
                for (String path : args[1].split(",")) anchors.add(new TrustAnchor(load(factory, path), null));
                List<Certificate> store = new ArrayList<>();
                store.add(leaf);
                for (int i = 2; i < args.length; i++) store.add(load(factory, args[i]));
                X509CertSelector target = new X509CertSelector();
                target.setCertificate(leaf);
                PKIXBuilderParameters parameters = new PKIXBuilderParameters(anchors, target);
                parameters.setRevocationEnabled(false);
                parameters.setPolicyQualifiersRejected(false);
                parameters.setDate(new Date(Long.parseLong(System.getProperty("at")) * 1000L));
                parameters.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(store)));
                try {
                    PKIXCertPathBuilderResult result = (PKIXCertPathBuilderResult) CertPathBuilder.getInstance("PKIX").build(parameters);
                    CertPathValidator.getInstance("PKIX").validate(result.getCertPath(), parameters);
                    System.out.println("VALID length=" + result.getCertPath().getCertificates().size() + " anchor=" + result.getTrustAnchor().getTrustedCert().getSerialNumber().toString(16));
                } catch (CertPathBuilderException | CertPathValidatorException e) {
                    System.out.println("INVALID: " + e.getMessage());
                    System.exit(2);
                }
            }
        }
        """;

    [Fact]
    public void RefusalsChangeNothingAndAHalfDoneRolloverResumes()
    {
        const string issuer = "yamaguchi-ken-authentication";
        var rolloversBefore = crl.Scalar("SELECT COUNT(*) FROM issuer_rollovers");
        var auditBefore = crl.Scalar("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'rollover.%'");

        var tooEarly = Tool("hsm", "rollover", "--issuer", issuer, "--at", Iso(DateTimeOffset.UtcNow.AddDays(29)));
        Assert.True(tooEarly.ExitCode == 2, tooEarly.ToString());
        Assert.Contains("refused (switch-too-early)", tooEarly.Stderr, StringComparison.Ordinal);
        var noOffset = Tool("hsm", "rollover", "--issuer", issuer, "--at", "2040-01-01T00:00:00");
        Assert.True(noOffset.ExitCode == 2, noOffset.ToString());
        Assert.Contains("refused (invalid-time)", noOffset.Stderr, StringComparison.Ordinal);
        var unknown = Tool("hsm", "rollover", "--issuer", "nowhere-signing", "--at", Iso(DateTimeOffset.UtcNow.AddDays(60)));
        Assert.True(unknown.ExitCode == 2, unknown.ToString());
        Assert.Contains("refused (unknown-issuer)", unknown.Stderr, StringComparison.Ordinal);
        var nothing = Tool("hsm", "rollover", "--issuer", issuer, "--resume", "--at", Iso(DateTimeOffset.UtcNow.AddDays(60)));
        Assert.True(nothing.ExitCode == 2, nothing.ToString());
        Assert.Contains("refused (nothing-to-resume)", nothing.Stderr, StringComparison.Ordinal);
        var missing = Tool("hsm", "rollover", "--issuer", issuer);
        Assert.True(missing.ExitCode == 2, missing.ToString());
        Assert.Equal(rolloversBefore, crl.Scalar("SELECT COUNT(*) FROM issuer_rollovers"));
        Assert.Equal(auditBefore, crl.Scalar("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'rollover.%'"));
        Assert.Equal(0, crl.Scalar("SELECT COUNT(*) FROM issuer_keys WHERE issuer_id = @issuer AND generation > 1", new { issuer }));

        // A run cut off right after its first step (as a killed process leaves it).
        var switchAt = Jpki.Core.Jst.TruncateToSeconds(DateTimeOffset.UtcNow.AddDays(45));
        crl.Execute(
            "INSERT INTO issuer_rollovers (to_key_id, issuer_id, from_key_id, generation, state, step, switch_at_us, actor, started_us) VALUES (@to, @issuer, @from, 2, 'in-progress', 'started', @at, 'test', @now)",
            new { to = issuer + "-g2", issuer, from = issuer + "-g1", at = switchAt.ToUnixTimeMilliseconds() * 1000, now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000 });
        var other = Tool("hsm", "rollover", "--issuer", issuer, "--at", Iso(switchAt.AddDays(1)));
        Assert.True(other.ExitCode == 2, other.ToString());
        Assert.Contains("refused (rollover-in-progress)", other.Stderr, StringComparison.Ordinal);
        var resumeTooEarly = Tool("hsm", "rollover", "--issuer", issuer, "--resume", "--at", Iso(DateTimeOffset.UtcNow.AddDays(2)));
        Assert.True(resumeTooEarly.ExitCode == 2, resumeTooEarly.ToString());
        Assert.Contains("refused (switch-too-early)", resumeTooEarly.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, crl.Scalar("SELECT COUNT(*) FROM issuer_keys WHERE issuer_id = @issuer AND generation > 1", new { issuer }));

        var resumed = Tool("hsm", "rollover", "--issuer", issuer, "--at", Iso(switchAt));
        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains("resuming the rollover", resumed.Stdout, StringComparison.Ordinal);
        Assert.Equal(switchAt.ToUnixTimeMilliseconds() * 1000, crl.Scalar("SELECT issues_from_us FROM issuer_keys WHERE id = @id", new { id = issuer + "-g2" }));
        Assert.Equal(1, crl.Scalar("SELECT COUNT(*) FROM issuer_rollovers WHERE issuer_id = @issuer AND state = 'complete' AND step = 'switch'", new { issuer }));
        Assert.Equal(2, crl.Scalar("SELECT COUNT(*) FROM link_certificates WHERE issuer_id = @issuer", new { issuer }));
        Assert.Equal(1, crl.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'rollover.switch-scheduled' AND subject = @issuer", new { issuer }));

        // The new generation's keys carry the first ceremony's attributes: sensitive, never extractable.
        var status = Tool("hsm", "status");
        Assert.True(status.ExitCode == 0, status.ToString());
        foreach (var label in new[] { issuer + "-g2", issuer + "-g2-ocsp-1" })
        {
            var line = status.Stdout.Split('\n').Single(l => l.TrimStart().StartsWith(label + " ", StringComparison.Ordinal));
            Assert.Matches(@"True\s+/\s+False\s+/\s+True", line);
        }
    }

    [Fact]
    public async Task BothGenerationsAreTrustedRevokedAndAnsweredEachUnderItsOwnKey()
    {
        var ca = crl.Ca;
        var dir = Directory.CreateDirectory(Path.Combine(ca.Root, "rollover")).FullName;
        File.WriteAllText(Path.Combine(dir, "Chain.java"), ChainSource);

        // Generation 1 issues before the rollover.
        var oldLeaf = await crl.IssueAsync("352039");
        var oldRevoked = await crl.IssueAsync("352039");
        Assert.Equal(OldKey, oldLeaf.IssuerKeyId);

        var switchAt = Jpki.Core.Jst.TruncateToSeconds(DateTimeOffset.UtcNow.AddDays(31));
        var rolled = Tool("hsm", "rollover", "--issuer", Issuer, "--at", Iso(switchAt));
        Assert.True(rolled.ExitCode == 0, rolled.ToString());
        Assert.Contains($"switches from '{OldKey}' to '{NewKey}'", rolled.Stdout, StringComparison.Ordinal);

        // Idempotent: the same command again changes nothing; another switch time is refused while N+1's is pending.
        var again = Tool("hsm", "rollover", "--issuer", Issuer, "--at", Iso(switchAt));
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("nothing to do", again.Stdout, StringComparison.Ordinal);
        var pending = Tool("hsm", "rollover", "--issuer", Issuer, "--at", Iso(switchAt.AddDays(40)));
        Assert.True(pending.ExitCode == 2, pending.ToString());
        Assert.Contains("refused (switch-pending)", pending.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, crl.Scalar("SELECT COUNT(*) FROM issuer_rollovers WHERE issuer_id = @Issuer AND state = 'complete'", new { Issuer }));
        foreach (var action in new[] { "rollover.started", "rollover.key.generated", "ceremony.root.issued", "rollover.root.published", "rollover.link.issued", "ceremony.ocsp-responder.issued", "rollover.switch-scheduled" })
        {
            Assert.True(crl.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = @action AND (subject = @Issuer OR subject = @NewKey)", new { action, Issuer, NewKey }) >= 1, action);
        }

        // The published files: both roots, N+1's fingerprint as openssl prints it, both link certificates.
        var certs = Path.Combine(ca.Home, "certs");
        var oldRoot = Path.Combine(certs, OldKey + ".pem");
        var newRoot = Path.Combine(certs, NewKey + ".pem");
        var newWithOld = Path.Combine(certs, $"{NewKey}-by-{OldKey}.pem");
        var oldWithNew = Path.Combine(certs, $"{OldKey}-by-{NewKey}.pem");
        var fingerprint = ExternalProcess.Run("openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", newRoot);
        Assert.Equal(fingerprint.Output, File.ReadAllText(Path.Combine(certs, NewKey + ".sha256")));
        var (_, fingerprintBody, _) = await GetTextAsync($"api/v1/issuers/{Issuer}/generations/2/fingerprint");
        Assert.Equal(fingerprint.Output, fingerprintBody);
        var (linkStatus, linkBody, _) = await GetTextAsync($"api/v1/issuers/{Issuer}/certificates/{OldKey}-by-{NewKey}.pem");
        Assert.Equal((200, File.ReadAllText(oldWithNew)), (linkStatus, linkBody));

        // One DN, two keys; each link certificate names its signer by AKI, never equal to its SKI.
        var g1 = Read(oldRoot);
        var g2 = Read(newRoot);
        Assert.Equal(g1.SubjectDN.ToString(), g2.SubjectDN.ToString());
        Assert.Null(g2.GetExtensionValue(X509Extensions.AuthorityKeyIdentifier));
        Assert.NotEqual(Ski(g1), Ski(g2));
        Assert.Equal((Ski(g1), Ski(g2)), (Aki(Read(newWithOld)), Ski(Read(newWithOld))));
        Assert.Equal((Ski(g2), Ski(g1)), (Aki(Read(oldWithNew)), Ski(Read(oldWithNew))));

        // Issuance before TIME stays on N; a CA whose clock is past TIME signs with N+1 only.
        var beforeSwitch = await crl.IssueAsync("352039");
        Assert.Equal(OldKey, beforeSwitch.IssuerKeyId);

        // Delivered to their cards: a CA whose clock is a month ahead would otherwise revoke them as never delivered.
        foreach (var leaf in new[] { oldLeaf, oldRevoked, beforeSwitch })
        {
            await DeliverAsync(leaf.Serial, ca.CaAddress);
        }

        var clock = new ManualClock(switchAt.AddSeconds(-1));
        await using var later = ca.BuildCa(clock);
        await later.StartAsync();
        var laterAddress = CaFixture.BoundAddress(later);
        var lastOld = await IssueAtAsync(laterAddress, dir);
        Assert.Equal(OldKey, lastOld.IssuerKeyId);
        clock.Advance(TimeSpan.FromSeconds(2));
        var newLeaf = await IssueAtAsync(laterAddress, dir);
        var newRevoked = await IssueAtAsync(laterAddress, dir);
        Assert.Equal(NewKey, newLeaf.IssuerKeyId);
        Assert.Equal(Ski(g2), Aki(Read(newLeaf.PemPath)));
        Assert.Equal(Ski(g1), Aki(Read(oldLeaf.PemPath)));
        var (issuersStatus, issuers, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/issuers", null, at: laterAddress);
        Assert.Equal(200, issuersStatus);
        var signing = issuers.EnumerateArray().Single(i => i.GetProperty("id").GetString() == Issuer);
        Assert.Equal(NewKey, signing.GetProperty("issuingKeyId").GetString());
        Assert.Equal([OldKey, NewKey], signing.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("id").GetString()!));
        Assert.Equal(2, signing.GetProperty("links").GetArrayLength());

        // openssl and the JDK judge at an instant after the switch, when both leaves are valid.
        var at = switchAt.AddDays(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);

        // openssl: both roots trusted with one DN, in either order, for certificates of both generations.
        var bothOldFirst = Concatenate(dir, "anchors-old-first.pem", oldRoot, newRoot);
        var bothNewFirst = Concatenate(dir, "anchors-new-first.pem", newRoot, oldRoot);
        foreach (var anchors in new[] { bothOldFirst, bothNewFirst })
        {
            foreach (var leaf in new[] { oldLeaf.PemPath, newLeaf.PemPath })
            {
                OpensslAccepts("-attime", at, "-CAfile", anchors, leaf);
                JdkAccepts(at, dir, leaf, anchors == bothOldFirst ? $"{oldRoot},{newRoot}" : $"{newRoot},{oldRoot}");
            }
        }

        // One anchor plus the link certificate pointing the right way; without it, refused.
        OpensslAccepts("-attime", at, "-CAfile", newRoot, "-untrusted", oldWithNew, oldLeaf.PemPath);
        OpensslAccepts("-attime", at, "-CAfile", oldRoot, "-untrusted", newWithOld, newLeaf.PemPath);
        JdkAccepts(at, dir, oldLeaf.PemPath, newRoot, oldWithNew);
        JdkAccepts(at, dir, newLeaf.PemPath, oldRoot, newWithOld);
        OpensslRefuses("-attime", at, "-CAfile", newRoot, oldLeaf.PemPath);
        OpensslRefuses("-attime", at, "-CAfile", oldRoot, newLeaf.PemPath);
        OpensslRefuses("-attime", at, "-CAfile", newRoot, "-untrusted", newWithOld, oldLeaf.PemPath);
        JdkRefuses(at, dir, oldLeaf.PemPath, newRoot);
        JdkRefuses(at, dir, newLeaf.PemPath, oldRoot);

        // Revocations after the rollover: each generation's CRL lists its own and only its own.
        crl.Revoke(oldRevoked.Serial, RevocationCause.CardLost);
        crl.Revoke(newRevoked.Serial, RevocationCause.CardLost);
        crl.Services.SigningKeys.Refresh();
        var oldFull = new CrlSeries(OldKey, CrlScopeKind.Full);
        var newFull = new CrlSeries(NewKey, CrlScopeKind.Full);
        var oldFirst = crl.Services.Publisher.Publish(oldFull, delta: false, scheduled: false)!;
        var oldCrl = crl.Snapshot(oldFirst.Path, "rollover-old-full.crl");
        var newFirst = crl.Services.Publisher.Publish(newFull, delta: false, scheduled: false)!;
        var newCrl = crl.Snapshot(newFirst.Path, "rollover-new-full.crl");
        var oldSecond = crl.Services.Publisher.Publish(oldFull, delta: false, scheduled: false)!;
        Assert.True(oldSecond.Number > oldFirst.Number, "the numbers of N's series increase");
        Assert.Equal(1, crl.Scalar("SELECT COUNT(*) FROM crls WHERE issuer_key_id = @NewKey AND scope = 'full'", new { NewKey }));

        var oldList = Crl(oldCrl);
        var newList = Crl(newCrl);
        oldList.Verify(g1.GetPublicKey());
        newList.Verify(g2.GetPublicKey());
        Assert.Equal(Ski(g1), Aki(oldList));
        Assert.Equal(Ski(g2), Aki(newList));
        Assert.NotNull(oldList.GetRevokedCertificate(Serial(oldRevoked.Serial)));
        Assert.Null(oldList.GetRevokedCertificate(Serial(newRevoked.Serial)));
        Assert.NotNull(newList.GetRevokedCertificate(Serial(newRevoked.Serial)));
        Assert.Null(newList.GetRevokedCertificate(Serial(oldRevoked.Serial)));
        Assert.Equal(0, crl.Scalar("SELECT COUNT(*) FROM certificates WHERE issuer_key_id = @NewKey AND serial IN (@a, @b)", new { NewKey, a = oldLeaf.Serial, b = oldRevoked.Serial }));

        // openssl checks the revoked N certificate against N's CRL with both anchors of one DN.
        var oldCrlPem = crl.ToPem(oldCrl, "rollover-old-full");
        var revokedCheck = ExternalProcess.Run("openssl", "verify", "-crl_check", "-CAfile", bothNewFirst, "-CRLfile", oldCrlPem, oldRevoked.PemPath);
        Assert.True(revokedCheck.ExitCode != 0 && revokedCheck.Output.Contains("certificate revoked", StringComparison.Ordinal), revokedCheck.Output);
        OpensslAccepts("-crl_check", "-CAfile", bothNewFirst, "-CRLfile", oldCrlPem, oldLeaf.PemPath);

        // OCSP: the responder over the same store answers N's certificates with N's responder
        // (openssl verifies the answer against N's root only) and N+1's with N+1's.
        await using var responder = OcspHost.Build(crl.Settings, ca.Module, new OcspOptions { ListenUrl = "http://127.0.0.1:0" });
        await responder.StartAsync();
        var ocspUrl = responder.Urls.Single().TrimEnd('/') + "/ocsp";
        var bearer = "Authorization=Bearer " + ca.Tokens["verifier"];
        var revokedAnswer = ExternalProcess.Run("openssl", "ocsp", "-issuer", oldRoot, "-CAfile", oldRoot, "-cert", oldRevoked.PemPath, "-url", ocspUrl, "-header", bearer, "-no_nonce");
        Assert.True(revokedAnswer.ExitCode == 0 && revokedAnswer.Output.Contains("Response verify OK", StringComparison.Ordinal), revokedAnswer.Output);
        Assert.Contains(": revoked", revokedAnswer.Output, StringComparison.Ordinal);
        var goodOld = ExternalProcess.Run("openssl", "ocsp", "-issuer", oldRoot, "-CAfile", oldRoot, "-cert", oldLeaf.PemPath, "-url", ocspUrl, "-header", bearer, "-no_nonce");
        Assert.True(goodOld.ExitCode == 0 && goodOld.Output.Contains("Response verify OK", StringComparison.Ordinal) && goodOld.Output.Contains(": good", StringComparison.Ordinal), goodOld.Output);
        var goodNew = ExternalProcess.Run("openssl", "ocsp", "-issuer", newRoot, "-CAfile", newRoot, "-cert", newLeaf.PemPath, "-url", ocspUrl, "-header", bearer, "-no_nonce");
        Assert.True(goodNew.ExitCode == 0 && goodNew.Output.Contains("Response verify OK", StringComparison.Ordinal) && goodNew.Output.Contains(": good", StringComparison.Ordinal), goodNew.Output);
        var wrongResponder = ExternalProcess.Run("openssl", "ocsp", "-issuer", oldRoot, "-CAfile", newRoot, "-cert", oldLeaf.PemPath, "-url", ocspUrl, "-header", bearer, "-no_nonce");
        Assert.DoesNotContain("Response verify OK", wrongResponder.Output, StringComparison.Ordinal);
        await responder.StopAsync();
        await later.StopAsync();
    }

    private (int ExitCode, string Stdout, string Stderr) Tool(params string[] arguments) =>
        TestInstall.RunTool(crl.Ca.Home, crl.Ca.ConfPath, crl.Ca.TokenLabel, crl.Ca.ModulePath, arguments);

    private static string Iso(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    private async Task<(int Status, string Body, string? ContentType)> GetTextAsync(string path)
    {
        using var response = await crl.Ca.Http.GetAsync(new Uri(crl.Ca.CaAddress, path));
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync(), response.Content.Headers.ContentType?.MediaType);
    }

    /// <summary>A signing certificate issued by the CA at <paramref name="address"/> (another instance, another clock).</summary>
    private async Task<IssuedLeaf> IssueAtAsync(Uri address, string dir)
    {
        var ca = crl.Ca;
        var code = await ca.AddResidentAsync(municipalityCode: "352039", address: "山口県宇部市常盤町１－７");
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new
        {
            residentCode = code,
            kind = "signing",
            csr = ca.NewCardCsr(),
            windowId = "WIN00001A",
            jukiSequence = 0,
        }, at: address);
        Assert.True(status == 201, body.ToString());
        var serial = body.GetProperty("serial").GetString()!;
        var pem = Path.Combine(dir, serial + ".pem");
        File.WriteAllText(pem, body.GetProperty("certificatePem").GetString());
        await DeliverAsync(serial, address);
        return new IssuedLeaf(serial, body.GetProperty("issuerKeyId").GetString()!, "352039", pem);
    }

    private async Task DeliverAsync(string serial, Uri address)
    {
        var (status, body, _) = await crl.Ca.SendAsync(HttpMethod.Post, $"api/v1/certificates/{serial}/delivery", "operator", rawJson: "{}", at: address);
        Assert.True(status == 200, body.ToString());
    }

    private static void OpensslAccepts(params string[] arguments)
    {
        var result = ExternalProcess.Run("openssl", ["verify", .. arguments]);
        Assert.True(result.ExitCode == 0 && result.Output.Contains(": OK", StringComparison.Ordinal), $"openssl verify {string.Join(' ', arguments)}:\n{result.Output}");
    }

    private static void OpensslRefuses(params string[] arguments)
    {
        var result = ExternalProcess.Run("openssl", ["verify", .. arguments]);
        Assert.True(result.ExitCode != 0, $"openssl verify {string.Join(' ', arguments)} accepted:\n{result.Output}");
    }

    private static void JdkAccepts(string at, string dir, string leaf, string anchors, params string[] untrusted)
    {
        var result = ExternalProcess.Run("java", ["-Dat=" + at, Path.Combine(dir, "Chain.java"), leaf, anchors, .. untrusted]);
        Assert.True(result.ExitCode == 0 && result.Output.StartsWith("VALID", StringComparison.Ordinal), $"JDK on {leaf} with {anchors} {string.Join(' ', untrusted)}:\n{result.Output}");
    }

    private static void JdkRefuses(string at, string dir, string leaf, string anchors, params string[] untrusted)
    {
        var result = ExternalProcess.Run("java", ["-Dat=" + at, Path.Combine(dir, "Chain.java"), leaf, anchors, .. untrusted]);
        Assert.True(result.ExitCode == 2 && result.Output.StartsWith("INVALID", StringComparison.Ordinal), $"JDK accepted {leaf} with {anchors}:\n{result.Output}");
    }

    private static string Concatenate(string dir, string name, params string[] files)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllText(path, string.Concat(files.Select(File.ReadAllText)));
        return path;
    }

    private static X509Certificate Read(string pemPath) => new X509CertificateParser().ReadCertificate(File.ReadAllBytes(pemPath));

    private static X509Crl Crl(string derPath) => new X509CrlParser().ReadCrl(File.ReadAllBytes(derPath));

    private static Org.BouncyCastle.Math.BigInteger Serial(string hex) => new(hex, 16);

    private static string Ski(X509Certificate certificate) =>
        Convert.ToHexStringLower(SubjectKeyIdentifier.GetInstance(X509ExtensionUtilities.FromExtensionValue(certificate.GetExtensionValue(X509Extensions.SubjectKeyIdentifier))).GetKeyIdentifier());

    private static string? Aki(X509Certificate certificate) => AkiOf(certificate.GetExtensionValue(X509Extensions.AuthorityKeyIdentifier));

    private static string? Aki(X509Crl list) => AkiOf(list.GetExtensionValue(X509Extensions.AuthorityKeyIdentifier));

    private static string? AkiOf(Org.BouncyCastle.Asn1.Asn1OctetString? value) =>
        value is null ? null : Convert.ToHexStringLower(AuthorityKeyIdentifier.GetInstance(X509ExtensionUtilities.FromExtensionValue(value)).KeyIdentifier.GetOctets());
}
