using Jpki.Ca;
using Jpki.Core.Issuers;
using Jpki.Ocsp;
using Microsoft.Extensions.DependencyInjection;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// Issue 17, decision 0420: <c>./jpki hsm responder-compromise --key ID</c> (the tool as a child
/// process, officers' API tokens on its standard input) on the fixture's SoftHSM token, with an
/// OCSP responder running over the same store and independent relying parties. One officer only
/// requests, the same officer cannot approve; the second officer's approval gives a new responder
/// certificate, which the running responder signs with within seconds (openssl ocsp verifies
/// it); the compromised responder certificate is on the next ARL with keyCompromise (openssl crl),
/// and openssl verify -crl_check against that ARL rejects the certificate the old answers carry
/// while it accepts the new one (and accepted the old one against the ARL before); the
/// compromised key is gone from the token; audit verify passes.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class ResponderCompromiseTests(CrlFixture crl)
{
    // The authentication key: the signing key's series are the other tests' subject.
    private const string Key = "yamaguchi-ken-authentication-g1";

    [Fact]
    public async Task Two_officers_replace_a_compromised_responder_the_ARL_lists_it_and_OCSP_switches_without_a_restart()
    {
        var ca = crl.Ca.CaServices.GetRequiredService<CaServices>();
        var root = crl.Ca.RootPemPath(Key);
        var leaf = await crl.IssueAsync("352012", "authentication");
        Assert.Equal(Key, leaf.IssuerKeyId);
        await using var responder = OcspHost.Build(crl.Settings, crl.Ca.Module, new OcspOptions { ListenUrl = "http://127.0.0.1:0" });
        await responder.StartAsync();
        var ocspUrl = responder.Urls.Single().TrimEnd('/') + "/ocsp";

        Responder old;
        using (var db = crl.Services.Database.OpenConnection())
        {
            var row = IssuerStore.FindCurrentResponder(db, Key)!;
            old = new Responder(row.Serial, row.HsmKeyLabel);
        }

        var before = Ask(ocspUrl, root, leaf.PemPath, "before");
        Assert.Equal(old.Serial, before.ResponderSerial);
        var oldResponderPem = before.ResponderPem;
        var arlBefore = PublishArl("before");
        Accepts(root, arlBefore, oldResponderPem);

        // One officer alone only requests; the same officer cannot approve; a statement is required.
        var noStatement = Compromise(null, crl.Ca.Tokens["officer1"]);
        Assert.True(noStatement.ExitCode == 2 && noStatement.Stderr.Contains("refused (statement-required)", StringComparison.Ordinal), noStatement.ToString());
        var alone = Compromise("responder host breached (test)", crl.Ca.Tokens["officer1"]);
        Assert.True(alone.ExitCode == 3, alone.ToString());
        var twice = Compromise(null, crl.Ca.Tokens["officer1"]);
        Assert.True(twice.ExitCode == 2 && twice.Stderr.Contains("refused (same-officer)", StringComparison.Ordinal), twice.ToString());
        Assert.True(ca.Token.HasKey(old.Label), "the key stays until a second officer approves");
        Assert.Equal(old.Serial, Ask(ocspUrl, root, leaf.PemPath, "requested").ResponderSerial);

        var approved = Compromise(null, crl.Ca.Tokens["officer2"]);
        Assert.True(approved.ExitCode == 0, approved.ToString());
        Assert.Contains($"destroyed private key '{old.Label}' (1 object(s))", approved.Stdout, StringComparison.Ordinal);
        string fresh;
        using (var db = crl.Services.Database.OpenConnection())
        {
            fresh = IssuerStore.FindCurrentResponder(db, Key)!.Serial;
        }

        Assert.NotEqual(old.Serial, fresh);
        Assert.False(ca.Token.HasKey(old.Label), "the compromised private key is destroyed");
        Assert.Equal(1, crl.Scalar("SELECT COUNT(*) FROM certificates WHERE serial = @Serial AND status = 'revoked' AND reason = 1", new { old.Serial }));
        foreach (var action in new[] { "approval.requested", "approval.approved", "ocsp-responder.renewed", "ocsp-responder.revoked", "ocsp-responder.key-destroyed" })
        {
            Assert.True(crl.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = @action AND subject = @Key", new { action, Key }) >= 1, action);
        }

        // The running responder switches at its next status poll: answers carry the new certificate and verify.
        Answer? after = null;
        await Eventually.HoldsAsync(() => (after = Ask(ocspUrl, root, leaf.PemPath, "after")).ResponderSerial == fresh, TimeSpan.FromSeconds(10));
        Assert.NotNull(after);

        // The ARL lists the compromised responder certificate with keyCompromise; openssl rejects
        // the certificate the old answers carry against it, and accepts the new responder's.
        var arl = PublishArl("after");
        var text = ExternalProcess.Run("openssl", "crl", "-in", arl, "-noout", "-text");
        Assert.Contains("Serial Number: " + old.Serial.ToUpperInvariant(), text.Output, StringComparison.Ordinal);
        Assert.Contains("Key Compromise", text.Output, StringComparison.Ordinal);
        var rejected = ExternalProcess.Run("openssl", "verify", "-crl_check", "-CAfile", root, "-CRLfile", arl, oldResponderPem);
        Assert.True(rejected.ExitCode != 0 && rejected.Output.Contains("certificate revoked", StringComparison.Ordinal), rejected.Output);
        Accepts(root, arl, after!.ResponderPem);

        var verify = TestInstall.RunTool(crl.Ca.Home, crl.Ca.ConfPath, crl.Ca.TokenLabel, crl.Ca.ModulePath, "audit", "verify");
        Assert.True(verify.ExitCode == 0, verify.Stdout + verify.Stderr);
        await responder.StopAsync();
    }

    private sealed record Responder(string Serial, string Label);

    private sealed record Answer(string ResponderSerial, string ResponderPem);

    /// <summary>openssl ocsp asks about the leaf and verifies the answer against the root; the answer's responder certificate is kept as PEM.</summary>
    private Answer Ask(string url, string root, string leaf, string name)
    {
        var file = Path.Combine(crl.Ca.Root, $"compromise-{name}.ocsp");
        var asked = ExternalProcess.Run(
            "openssl", "ocsp", "-issuer", root, "-CAfile", root, "-cert", leaf, "-url", url, "-header", "Authorization=Bearer " + crl.Ca.Tokens["verifier"], "-no_nonce", "-respout", file);
        Assert.True(asked.ExitCode == 0 && asked.Output.Contains("Response verify OK", StringComparison.Ordinal) && asked.Output.Contains(": good", StringComparison.Ordinal), asked.Output);
        var basic = (BasicOcspResp)new OcspResp(File.ReadAllBytes(file)).GetResponseObject();
        var certificate = Assert.Single(basic.GetCerts());
        var pem = Path.Combine(crl.Ca.Root, $"compromise-{name}-responder.pem");
        File.WriteAllText(pem, System.Security.Cryptography.PemEncoding.WriteString("CERTIFICATE", certificate.GetEncoded()));
        return new Answer(Jpki.Core.Profiles.SerialNumbers.ToHex(certificate.SerialNumber), pem);
    }

    private string PublishArl(string name)
    {
        var series = new CrlSeries(Key, CrlScopeKind.Arl);
        Assert.NotNull(crl.Services.Publisher.Publish(series, delta: false, scheduled: false));
        return crl.ToPem(crl.Snapshot(crl.PathOf(series), $"compromise-arl-{name}.crl"), $"compromise-arl-{name}");
    }

    private static void Accepts(string root, string arl, string certificate)
    {
        var accepted = ExternalProcess.Run("openssl", "verify", "-crl_check", "-CAfile", root, "-CRLfile", arl, certificate);
        Assert.True(accepted.ExitCode == 0, accepted.Output);
    }

    private ProcessResult Compromise(string? statement, string officerToken) =>
        ExternalProcess.RunWith(
            "dotnet",
            [TestInstall.BuiltToolPath("hsm-config", "Jpki.HsmTool"), "hsm", "responder-compromise", "--key", Key, .. statement is null ? Array.Empty<string>() : ["--statement", statement]],
            new Dictionary<string, string>
            {
                ["JPKI_HOME"] = crl.Ca.Home,
                ["SOFTHSM2_CONF"] = crl.Ca.ConfPath,
                ["JPKI_HSM_TOKEN"] = crl.Ca.TokenLabel,
                ["JPKI_PKCS11_MODULE"] = crl.Ca.ModulePath,
                ["JPKI_HSM_PIN"] = "",
                ["JPKI_DB"] = "",
            },
            officerToken + "\n");
}
