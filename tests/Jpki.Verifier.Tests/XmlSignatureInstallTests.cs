using System.Text.Json;

namespace Jpki.Verifier.Tests;

/// <summary>
/// XML-DSig signatures made by xmlsec1 with a key the install's CA certified over its API
/// (a card key exported for the test), checked against the install's roots with its OCSP
/// responder: the same certificate checks and exit codes as a CMS signature.
/// </summary>
[Collection(VerifierGroup.Name)]
public sealed class XmlSignatureInstallTests(VerifierFixture install)
{
    private XmlSigning Signing => new(Path.Combine(install.Work, "xml"));

    [Fact]
    public async Task An_xmlsec1_signature_with_a_JPKI_signing_certificate_is_good_with_OCSP_and_names_the_signer()
    {
        var key = await install.IssueExportedKeyAsync("signing", name: "佐藤　美咲");
        var enveloped = Signing.Sign(key.Serial + "-enveloped", XmlSigning.EnvelopedTemplate(), key.PrivateKeyPem, key.CertificatePem);

        var result = await XmlSignatureVerifier.VerifyAsync(File.ReadAllBytes(enveloped), install.Options(install.Ocsp));
        Assert.True(result.IsValid, string.Join("\n", result.Verification.Checks));
        Assert.Equal(RevocationState.Good, result.Verification.Revocation.State);
        Assert.Equal("佐藤　美咲", result.Verification.Facts!.Name);
        Assert.Equal("319800517", result.Verification.Facts.DateOfBirth);
        Assert.Equal(key.Serial.TrimStart('0'), result.Verification.Signer!.SerialHex.TrimStart('0'), ignoreCase: true);
        Assert.Equal("120000", result.SignedElement!["Amount", XmlSigning.Namespace]!.InnerText);

        var xmlsec = XmlSigning.XmlsecVerify(enveloped, Path.Combine(install.RootsDirectory, key.IssuerKeyId + ".pem"));
        Assert.True(xmlsec.ExitCode == 0, xmlsec.ToString());

        var cli = install.RunVerify("--xml", enveloped, "--ocsp", install.OcspUrl.ToString(), "--token-file", install.VerifierTokenFile);
        Assert.True(cli.ExitCode == 0, cli.ToString());
        Assert.Contains("name           佐藤　美咲", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("signed element   <Return> in urn:example:e-filing, reference \"\"", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("status: GOOD", cli.Stdout, StringComparison.Ordinal);

        var detached = Signing.Sign(key.Serial + "-detached", XmlSigning.DetachedTemplate(), key.PrivateKeyPem, key.CertificatePem);
        var json = install.RunVerify("--xml", detached, "--element", "{urn:example:e-filing}Return", "--ocsp", install.OcspUrl.ToString(), "--json");
        Assert.True(json.ExitCode == 0, json.ToString());
        var answer = JsonDocument.Parse(json.Stdout).RootElement;
        Assert.True(answer.GetProperty("valid").GetBoolean());
        Assert.Equal("good", answer.GetProperty("status").GetString());
        Assert.Equal("佐藤　美咲", answer.GetProperty("facts").GetProperty("name").GetString());
        Assert.Equal("Return", answer.GetProperty("signedElement").GetProperty("name").GetString());
        Assert.Equal("#return-1", answer.GetProperty("signedElement").GetProperty("reference").GetString());
        Assert.Equal("Good", answer.GetProperty("revocation").GetProperty("state").GetString());
    }

    [Fact]
    public async Task A_revoked_signer_or_a_user_authentication_key_is_refused_after_a_good_XML_signature()
    {
        var authentication = await install.IssueExportedKeyAsync("authentication");
        var byAuthentication = Signing.Sign(authentication.Serial + "-auth", XmlSigning.EnvelopedTemplate(), authentication.PrivateKeyPem, authentication.CertificatePem);
        var wrongKind = await XmlSignatureVerifier.VerifyAsync(File.ReadAllBytes(byAuthentication), install.Options(install.Ocsp));
        Assert.True(wrongKind.Verification.SignatureValid);
        Assert.Equal(FailureReason.WrongKeyUsage, wrongKind.Verification.FirstFailure!.Reason);
        var cli = install.RunVerify("--xml", byAuthentication, "--ocsp", install.OcspUrl.ToString());
        Assert.True(cli.ExitCode == 18, cli.ToString());

        var signing = await install.IssueExportedKeyAsync("signing");
        var signed = Signing.Sign(signing.Serial + "-revoked", XmlSigning.EnvelopedTemplate(), signing.PrivateKeyPem, signing.CertificatePem);
        await install.RevokeAsync(signing.Serial);
        XmlVerificationResult result;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            result = await XmlSignatureVerifier.VerifyAsync(File.ReadAllBytes(signed), install.Options(install.Ocsp));
            if (result.Verification.Revocation.State == RevocationState.Revoked)
            {
                break;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Equal(FailureReason.Revoked, result.Verification.FirstFailure!.Reason);
        Assert.True(result.Verification.SignatureValid);
        cli = install.RunVerify("--xml", signed, "--ocsp", install.OcspUrl.ToString());
        Assert.True(cli.ExitCode == 30, cli.ToString());
        Assert.Contains("status: REVOKED", cli.Stdout, StringComparison.Ordinal);
    }
}
