using System.Security.Cryptography;
using Jpki.Ca;
using Jpki.Core.Issuers;
using Jpki.Core.Profiles;
using Jpki.Core.Store;
using Jpki.Hsm;
using Microsoft.Extensions.DependencyInjection;
using Org.BouncyCastle.X509;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// Issue 17: <c>./jpki hsm retire --key ID</c> (the tool as a child process, officers' API tokens on
/// its standard input) on the fixture's real SoftHSM token. Refused while the key's root is
/// unexpired (nothing changes, the key still signs); for a generation whose root really has
/// expired (made here in the token, with a root dated eleven years back and a responder), one
/// officer alone only requests, the same officer cannot approve, and a second officer's approval
/// destroys its private keys — pkcs11-tool no longer lists them — while its certificates and the
/// audit trail stay and <c>./jpki audit verify</c> passes.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class RetireTests(CrlFixture crl)
{
    [Fact]
    public void Retire_is_refused_before_the_root_expires_and_needs_two_officers_after()
    {
        var ca = crl.Ca.CaServices.GetRequiredService<CaServices>();
        const string live = "yamaguchi-ken-authentication-g1";
        var requestsBefore = crl.Scalar("SELECT COUNT(*) FROM approval_requests");
        var auditBefore = crl.Scalar("SELECT COUNT(*) FROM audit_log");

        // Before the root's notAfter: one line, nothing changed, and the key still signs its CRLs.
        var early = Retire(live, crl.Ca.Tokens["officer1"], crl.Ca.Tokens["officer2"]);
        Assert.True(early.ExitCode == 2, early.ToString());
        Assert.StartsWith("refused (root-unexpired): the root of " + live + " is valid until ", early.Stderr, StringComparison.Ordinal);
        Assert.Single(early.Stderr.Trim().Split('\n'));
        Assert.Equal(requestsBefore, crl.Scalar("SELECT COUNT(*) FROM approval_requests"));
        Assert.Equal(auditBefore, crl.Scalar("SELECT COUNT(*) FROM audit_log"));
        Assert.Equal(1, crl.Scalar("SELECT COUNT(*) FROM issuer_keys WHERE id = @live AND state = 'active'", new { live }));
        Assert.NotNull(crl.Services.Publisher.Publish(new CrlSeries(live, CrlScopeKind.Arl), delta: false, scheduled: false));

        // A generation whose root has expired, with a delegated responder.
        var ended = MakeExpiredGeneration(ca);
        Assert.Contains(ended.Label, PrivateKeyLabels());
        Assert.Contains(ended.ResponderLabel, PrivateKeyLabels());

        // One officer alone only requests; the same officer cannot approve their own request.
        var alone = Retire(ended.KeyId, crl.Ca.Tokens["officer1"]);
        Assert.True(alone.ExitCode == 3, alone.ToString());
        Assert.Contains("officer1 requested the retirement of " + ended.KeyId, alone.Stdout, StringComparison.Ordinal);
        var twice = Retire(ended.KeyId, crl.Ca.Tokens["officer1"]);
        Assert.True(twice.ExitCode == 2, twice.ToString());
        Assert.Contains("refused (same-officer)", twice.Stderr, StringComparison.Ordinal);
        var notOfficer = Retire(ended.KeyId, crl.Ca.Tokens["operator"]);
        Assert.True(notOfficer.ExitCode == 2, notOfficer.ToString());
        Assert.Contains("refused (not-an-officer)", notOfficer.Stderr, StringComparison.Ordinal);
        Assert.Contains(ended.Label, PrivateKeyLabels());
        Assert.True(ca.Token.HasKey(ended.Label), "the key is still in the token after one officer's request");

        // The second officer approves: both private keys are gone, the public halves and the certificates stay.
        var approved = Retire(ended.KeyId, crl.Ca.Tokens["officer2"]);
        Assert.True(approved.ExitCode == 0, approved.ToString());
        Assert.Contains("officer2 approved officer1's request", approved.Stdout, StringComparison.Ordinal);
        Assert.Contains($"destroyed private key '{ended.Label}' (1 object(s))", approved.Stdout, StringComparison.Ordinal);
        var privateKeys = PrivateKeyLabels();
        Assert.DoesNotContain(ended.Label, privateKeys);
        Assert.DoesNotContain(ended.ResponderLabel, privateKeys);
        Assert.Contains(live, privateKeys);
        Assert.Contains(ended.Label, ObjectLabels("pubkey"));
        Assert.False(ca.Token.HasKey(ended.Label));
        Assert.Equal(1, crl.Scalar("SELECT COUNT(*) FROM issuer_keys WHERE id = @KeyId AND state = 'retired' AND certificate_der IS NOT NULL", new { ended.KeyId }));
        Assert.Equal(2, crl.Scalar("SELECT COUNT(*) FROM certificates WHERE issuer_key_id = @KeyId", new { ended.KeyId }));
        foreach (var action in new[] { "approval.requested", "approval.approved", "issuer-key.destroyed" })
        {
            Assert.Equal(1, crl.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = @action AND subject = @KeyId", new { action, ended.KeyId }));
        }

        Assert.Equal(1, crl.Scalar("SELECT COUNT(*) FROM approval_requests WHERE subject = @KeyId AND state = 'approved' AND requested_by = 'officer1' AND decided_by = 'officer2'", new { ended.KeyId }));

        // Idempotent, the trail verifies, and status does not call the destroyed keys missing.
        var again = Retire(ended.KeyId, crl.Ca.Tokens["officer1"]);
        Assert.True(again.ExitCode == 0 && again.Stdout.Contains("nothing to do", StringComparison.Ordinal), again.ToString());
        var verify = Tool("audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.ToString());
        var status = Tool("hsm", "status");
        Assert.True(status.ExitCode == 0, status.ToString());
        Assert.Contains($"{ended.KeyId}  generation 1  retired  hsm '{ended.Label}'  (private key destroyed)", status.Stdout, StringComparison.Ordinal);
    }

    private sealed record EndedGeneration(string KeyId, string Label, string ResponderLabel);

    /// <summary>
    /// A generation of an issuer of its own whose root ran from eleven years ago to a year ago: a
    /// key pair in the token, its root (the ceremony's builder, signed in the HSM), a responder
    /// key and certificate, and their rows. Its own issuer keeps the fixture's issuers' generation numbers untouched.
    /// </summary>
    private EndedGeneration MakeExpiredGeneration(CaServices ca)
    {
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        var issuerId = $"retire-test-{suffix}-signing";
        var keyId = issuerId + "-g1";
        var label = keyId;
        var responderLabel = keyId + "-ocsp-1";
        ca.Token.GenerateKeyPair(KeyKind.Rsa, label);
        ca.Token.GenerateKeyPair(KeyKind.Rsa, responderLabel);
        using var signer = Pkcs11Signer.Open(ca.IssuancePool, label);
        using var responderSigner = Pkcs11Signer.Open(ca.IssuancePool, responderLabel);
        var issuedAt = DateTimeOffset.UtcNow.AddYears(-11);
        var root = new RootCertificateBuilder(signer, SignatureAlgorithm.RsaPkcs1Sha256).Build(new RootCertificateRequest
        {
            Kind = IssuerKind.Signing,
            Prefecture = crl.Settings.Prefectures[0].ToPrefecture(),
            SerialNumber = SerialNumbers.New(),
            IssuedAt = issuedAt,
            ArlUrl = $"{crl.Settings.Urls.CrlBase.TrimEnd('/')}/crl/{keyId}/arl.crl",
        });
        var responderSerial = SerialNumbers.New();
        var responder = new ResponderCertificateBuilder(root, signer, SignatureAlgorithm.RsaPkcs1Sha256).Build(new ResponderCertificateRequest
        {
            ResponderPublicKey = responderSigner.SubjectPublicKeyInfo,
            SerialNumber = responderSerial,
            IssuedAt = issuedAt.AddDays(1),
            Generation = 1,
        });
        var rootCertificate = new X509Certificate(root);
        var responderCertificate = new X509Certificate(responder);
        Assert.True(rootCertificate.NotAfter < DateTime.UtcNow, "the root has expired");
        var nowUs = Instant.NowMicros(TimeProvider.System);
        using var tx = crl.Services.Database.BeginWrite();
        var template = IssuerStore.FindIssuer(tx.Connection, "yamaguchi-ken-signing", tx.Transaction)!;
        IssuerStore.InsertIssuer(tx, new IssuerRow { Id = issuerId, Prefecture = template.Prefecture, Kind = "signing", SubjectDn = template.SubjectDn, CreatedUs = nowUs });
        IssuerStore.InsertKey(tx, new IssuerKeyRow
        {
            Id = keyId,
            IssuerId = issuerId,
            Generation = 1,
            HsmKeyLabel = label,
            CertificateDer = root,
            NotBeforeUs = Micros(rootCertificate.NotBefore),
            NotAfterUs = Micros(rootCertificate.NotAfter),
            State = "active",
            CreatedUs = nowUs,
            IssuesFromUs = Micros(rootCertificate.NotBefore),
            PublishedUs = Micros(rootCertificate.NotBefore),
        });
        IssuerStore.InsertCertificate(tx, new IssuedCertificate(SerialNumbers.ToHex(rootCertificate.SerialNumber), keyId, "root", Micros(rootCertificate.NotBefore), Micros(rootCertificate.NotAfter), root, nowUs));
        var responderHex = SerialNumbers.ToHex(responderSerial);
        IssuerStore.InsertCertificate(tx, new IssuedCertificate(responderHex, keyId, "ocsp-responder", Micros(responderCertificate.NotBefore), Micros(responderCertificate.NotAfter), responder, nowUs));
        IssuerStore.InsertResponder(tx, responderHex, keyId, responderLabel, Micros(responderCertificate.NotAfter), nowUs);
        tx.Commit();
        return new EndedGeneration(keyId, label, responderLabel);
    }

    private static long Micros(DateTime utc) => Instant.ToMicros(new DateTimeOffset(utc, TimeSpan.Zero));

    private ProcessResult Retire(string keyId, params string[] officerTokens) =>
        ExternalProcess.RunWith(
            "dotnet",
            [TestInstall.BuiltToolPath("hsm-config", "Jpki.HsmTool"), "hsm", "retire", "--key", keyId],
            ToolEnvironment(),
            string.Concat(officerTokens.Select(t => t + "\n")));

    private ProcessResult Tool(params string[] arguments) =>
        ExternalProcess.RunWith("dotnet", [TestInstall.BuiltToolPath("hsm-config", "Jpki.HsmTool"), .. arguments], ToolEnvironment());

    private Dictionary<string, string> ToolEnvironment() => new()
    {
        ["JPKI_HOME"] = crl.Ca.Home,
        ["SOFTHSM2_CONF"] = crl.Ca.ConfPath,
        ["JPKI_HSM_TOKEN"] = crl.Ca.TokenLabel,
        ["JPKI_PKCS11_MODULE"] = crl.Ca.ModulePath,
        ["JPKI_HSM_PIN"] = "",
        ["JPKI_DB"] = "",
    };

    /// <summary>The private keys in the token as OpenSC's pkcs11-tool lists them (an independent PKCS#11 client).</summary>
    private List<string> PrivateKeyLabels() => ObjectLabels("privkey");

    private List<string> ObjectLabels(string type)
    {
        var pin = File.ReadAllText(crl.Settings.Resolve(crl.Settings.Hsm.UserPinFile)).Trim();
        var listed = ExternalProcess.RunWith(
            "pkcs11-tool",
            ["--module", crl.Ca.ModulePath, "--token-label", crl.Ca.TokenLabel, "--login", "--pin", pin, "--list-objects", "--type", type],
            new Dictionary<string, string> { ["SOFTHSM2_CONF"] = crl.Ca.ConfPath });
        Assert.True(listed.ExitCode == 0, listed.ToString());
        return listed.Stdout.Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.StartsWith("label:", StringComparison.Ordinal))
            .Select(l => l["label:".Length..].Trim())
            .ToList();
    }
}
