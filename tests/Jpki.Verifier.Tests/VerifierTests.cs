using Org.BouncyCastle.Asn1.X509;

namespace Jpki.Verifier.Tests;

/// <summary>The verifier toolkit against a real install: card signatures, the CA over HTTP, the OCSP responder and the CRL publisher.</summary>
[Collection(VerifierGroup.Name)]
public sealed class VerifierTests(VerifierFixture install)
{
    [Fact]
    public async Task A_good_signature_is_accepted_with_OCSP_and_the_cli_prints_the_four_facts()
    {
        var signed = await install.SignAsync(name: "山田　花子");

        var result = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(install.Ocsp));
        Assert.True(result.IsValid, string.Join("\n", result.Checks));
        Assert.True(result.SignatureValid);
        Assert.Equal(RevocationState.Good, result.Revocation.State);
        Assert.Equal("ocsp", result.Revocation.Source);
        Assert.True(result.Revocation.NonceEchoed);
        Assert.Equal(signed.Serial.TrimStart('0'), result.Signer!.SerialHex.TrimStart('0'), ignoreCase: true);
        Assert.Equal(2, result.Chain.Length);
        Assert.All(new[] { CheckKind.Signature, CheckKind.Chain, CheckKind.Validity, CheckKind.KeyUsage, CheckKind.Policy, CheckKind.SignerFacts, CheckKind.Revocation }, kind =>
            Assert.Equal(CheckStatus.Passed, result[kind].Status));
        Assert.Contains("(critical)", result[CheckKind.Policy].Detail, StringComparison.Ordinal);
        Assert.Contains(VerifierOptions.SigningPolicy, result[CheckKind.Policy].Detail, StringComparison.Ordinal);
        var facts = result.Facts!;
        Assert.Equal("山田　花子", facts.Name);
        Assert.Equal("319800517", facts.DateOfBirth);
        Assert.Equal("1", facts.Sex);
        Assert.Equal("山口県山口市亀山町１－２", facts.Address);

        var cli = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString(), "--token-file", install.VerifierTokenFile);
        Assert.True(cli.ExitCode == 0, cli.Stdout + cli.Stderr);
        Assert.Contains("name           山田　花子", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("date of birth  昭和 1980-05-17 (319800517)", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("sex            male (1)", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("address        山口県山口市亀山町１－２", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("status: GOOD", cli.Stdout, StringComparison.Ordinal);

        // The independent check: openssl agrees the signature is good against the install's root.
        var openssl = ExternalProcess.RunWith("openssl", ["cms", "-verify", "-binary", "-content", signed.DocumentPath, "-inform", "DER", "-in", signed.SignaturePath, "-CAfile", Path.Combine(install.RootsDirectory, signed.IssuerKeyId + ".pem"), "-purpose", "any", "-out", "/dev/null"]);
        Assert.True(openssl.ExitCode == 0, openssl.Stderr);
        Assert.Contains("Verification successful", openssl.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_signature_made_with_jpki_card_sign_passes_jpki_verify()
    {
        var signed = await install.SignAsync(name: "NGUYEN VAN ANH", withCardCli: true);
        var cli = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString(), "--require-nonce");
        Assert.True(cli.ExitCode == 0, cli.Stdout + cli.Stderr);
        Assert.Contains("name           NGUYEN VAN ANH", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("nonce echoed", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("status: GOOD", cli.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_good_signature_is_accepted_with_the_full_CRL_and_with_the_municipality_partition()
    {
        var signed = await install.SignAsync();
        install.CrlServices.Publisher.PublishAll(delta: false, scheduled: false);
        var full = await install.DownloadCrlAsync(signed.IssuerKeyId, "full.crl", signed.Serial + "-good-full.crl");
        var partition = await install.DownloadCrlAsync(signed.IssuerKeyId, "m/352012.crl", signed.Serial + "-good-352012.crl");

        foreach (var file in new[] { full, partition })
        {
            var result = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(RevocationSource.Crls.FromFiles([file])));
            Assert.True(result.IsValid, string.Join("\n", result.Checks));
            Assert.Equal(RevocationState.Good, result.Revocation.State);
            Assert.Contains(file == full ? "(full)" : "(partition)", result[CheckKind.Revocation].Detail, StringComparison.Ordinal);
        }

        var cli = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--crl", partition);
        Assert.True(cli.ExitCode == 0, cli.Stdout + cli.Stderr);
        Assert.Contains("status: GOOD", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("CRL: not listed", cli.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_partition_CRL_of_another_municipality_does_not_cover_the_certificate()
    {
        var signed = await install.SignAsync();
        // A resident of 下関市 (352021), so that its partition exists.
        await install.SignAsync(name: "佐藤　次郎", municipality: "352021", address: "山口県下関市南部町１－１");
        install.CrlServices.Publisher.PublishAll(delta: false, scheduled: false);
        var other = await install.DownloadCrlAsync(signed.IssuerKeyId, "m/352021.crl", signed.Serial + "-other-352021.crl");

        var result = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(RevocationSource.Crls.FromFiles([other])));
        Assert.False(result.IsValid);
        Assert.Equal(FailureReason.RevocationUnknown, result.FirstFailure!.Reason);
        Assert.Equal(CheckStatus.Passed, result[CheckKind.Signature].Status);
    }

    [Fact]
    public async Task A_revoked_certificate_is_rejected_by_OCSP_by_the_CRL_and_by_a_delta()
    {
        var signed = await install.SignAsync();
        // Good first (the responder caches a 'good' answer; the base CRL does not list it).
        var before = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(install.Ocsp));
        Assert.True(before.IsValid, string.Join("\n", before.Checks));
        install.CrlServices.Publisher.PublishAll(delta: false, scheduled: false);
        var baseFull = await install.DownloadCrlAsync(signed.IssuerKeyId, "full.crl", signed.Serial + "-base-full.crl");

        await install.RevokeAsync(signed.Serial);

        // OCSP: the responder re-signs the cached answer within a poll; wait with a generous deadline.
        VerificationResult ocsp;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            ocsp = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(install.Ocsp));
            if (ocsp.Revocation.State == RevocationState.Revoked)
            {
                break;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Equal(RevocationState.Revoked, ocsp.Revocation.State);
        Assert.Equal(FailureReason.Revoked, ocsp.FirstFailure!.Reason);
        Assert.Equal("keyCompromise", ocsp.Revocation.Reason);
        Assert.True(ocsp.SignatureValid);
        Assert.NotNull(ocsp.Revocation.RevokedAt);

        var cliOcsp = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString());
        Assert.Equal(30, cliOcsp.ExitCode);
        Assert.Contains("status: REVOKED", cliOcsp.Stdout, StringComparison.Ordinal);
        Assert.Contains("keyCompromise", cliOcsp.Stdout, StringComparison.Ordinal);
        Assert.Contains("the signer certificate is revoked", cliOcsp.Stderr, StringComparison.Ordinal);

        // The same answer as JSON for machines: same exit code, kanji unescaped (U+3000 stays a \u escape).
        var json = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString(), "--json");
        Assert.True(json.ExitCode == 30, json.Stdout + json.Stderr);
        Assert.Contains("山田", json.Stdout, StringComparison.Ordinal);
        var answer = System.Text.Json.JsonDocument.Parse(json.Stdout).RootElement;
        Assert.False(answer.GetProperty("valid").GetBoolean());
        Assert.True(answer.GetProperty("signatureValid").GetBoolean());
        Assert.Equal("revoked", answer.GetProperty("status").GetString());
        Assert.Equal("Revoked", answer.GetProperty("failure").GetString());
        Assert.Equal(30, answer.GetProperty("exitCode").GetInt32());
        Assert.Equal("keyCompromise", answer.GetProperty("revocation").GetProperty("reason").GetString());
        Assert.Equal("319800517", answer.GetProperty("facts").GetProperty("dateOfBirth").GetString());
        Assert.Equal("山田　花子", answer.GetProperty("facts").GetProperty("name").GetString());
        Assert.Equal(7, answer.GetProperty("checks").GetArrayLength());

        // CRL: the base CRL from before the revocation alone says good; with the delta published after it (based on it), revoked.
        var baseOnly = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(RevocationSource.Crls.FromFiles([baseFull])));
        Assert.Equal(RevocationState.Good, baseOnly.Revocation.State);
        install.CrlServices.Publisher.PublishAll(delta: true, scheduled: false);
        var delta = await install.DownloadCrlAsync(signed.IssuerKeyId, "delta.crl", signed.Serial + "-revoked-delta.crl");
        var withDelta = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(RevocationSource.Crls.FromFiles([baseFull, delta])));
        Assert.Equal(RevocationState.Revoked, withDelta.Revocation.State);
        Assert.Contains("delta number", withDelta[CheckKind.Revocation].Detail, StringComparison.Ordinal);

        // The partition and the full CRL published after the revocation list it.
        install.CrlServices.Publisher.PublishAll(delta: false, scheduled: false);
        var partition = await install.DownloadCrlAsync(signed.IssuerKeyId, "m/352012.crl", signed.Serial + "-revoked-352012.crl");
        var full = await install.DownloadCrlAsync(signed.IssuerKeyId, "full.crl", signed.Serial + "-revoked-full.crl");
        foreach (var file in new[] { partition, full })
        {
            var cli = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--crl", file);
            Assert.True(cli.ExitCode == 30, cli.Stdout + cli.Stderr);
            Assert.Contains("status: REVOKED", cli.Stdout, StringComparison.Ordinal);
            Assert.Contains("reason keyCompromise", cli.Stdout, StringComparison.Ordinal);
        }

    }

    [Fact]
    public async Task An_expired_or_not_yet_valid_certificate_is_rejected_at_that_validation_time()
    {
        var signed = await install.SignAsync();
        var afterExpiry = signed.NotAfter.AddDays(1);
        var expired = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(install.Ocsp, afterExpiry));
        Assert.Equal(FailureReason.Expired, expired.FirstFailure!.Reason);
        Assert.True(expired.SignatureValid);

        var cli = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString(), "--at", afterExpiry.ToString("O"));
        Assert.True(cli.ExitCode == 16, cli.Stdout + cli.Stderr);
        Assert.Contains("FAILED Expired", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("the signer certificate has expired", cli.Stderr, StringComparison.Ordinal);

        var early = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString(), "--at", signed.NotBefore.AddDays(-1).ToString("O"));
        Assert.True(early.ExitCode == 17, early.Stdout + early.Stderr);
        Assert.Contains("FAILED NotYetValid", early.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_from_another_CA_is_rejected_as_wrong_issuer_or_untrusted()
    {
        var content = "%PDF-1.4 signed elsewhere\n"u8.ToArray();
        var document = Path.Combine(install.Work, "elsewhere.pdf");
        await File.WriteAllBytesAsync(document, content);
        var root = TrustAnchors.FromDirectory(install.RootsDirectory).First(r => r.SubjectDN.ToString().Contains("digital signature", StringComparison.Ordinal));

        // A self-made CA that copies the install root's name: the name matches, the key does not.
        var impostor = new SoftwareCa(root.SubjectDN);
        var (_, forged) = impostor.IssueAndSign(content, new LeafProfile());
        var forgedPath = Path.Combine(install.Work, "impostor.p7s");
        await File.WriteAllBytesAsync(forgedPath, forged);
        var result = await SignatureVerifier.VerifyAsync(content, forged, install.Options(install.Ocsp));
        Assert.Equal(FailureReason.WrongIssuer, result.FirstFailure!.Reason);
        Assert.True(result.SignatureValid);
        Assert.Equal(CheckStatus.NotChecked, result[CheckKind.Revocation].Status);
        var cli = install.RunVerify("--in", document, "--sig", forgedPath, "--ocsp", install.OcspUrl.ToString());
        Assert.True(cli.ExitCode == 15, cli.Stdout + cli.Stderr);
        Assert.Contains("status: INVALID", cli.Stdout, StringComparison.Ordinal);

        // A CA of another name altogether.
        var other = new SoftwareCa(new X509Name("C=JP, O=Other CA, CN=Not JPKI"));
        var (_, foreign) = other.IssueAndSign(content, new LeafProfile());
        var foreignPath = Path.Combine(install.Work, "foreign.p7s");
        await File.WriteAllBytesAsync(foreignPath, foreign);
        cli = install.RunVerify("--in", document, "--sig", foreignPath, "--ocsp", install.OcspUrl.ToString());
        Assert.True(cli.ExitCode == 14, cli.Stdout + cli.Stderr);
        Assert.Contains("FAILED UntrustedChain", cli.Stdout, StringComparison.Ordinal);

        // A genuine signature of this install, checked against another CA's root only: untrusted.
        var signed = await install.SignAsync();
        var elsewhereRoots = new VerifierOptions { Roots = [other.Root], Revocation = install.Ocsp };
        var untrusted = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, elsewhereRoots);
        Assert.Equal(FailureReason.UntrustedChain, untrusted.FirstFailure!.Reason);
    }

    [Fact]
    public async Task Tampered_content_and_tampered_signatures_are_rejected()
    {
        var signed = await install.SignAsync();
        var tamperedDocument = Path.Combine(install.Work, signed.Serial + "-tampered.pdf");
        await File.WriteAllBytesAsync(tamperedDocument, [.. signed.Content, .. "%% one more line\n"u8.ToArray()]);
        var cli = install.RunVerify("--in", tamperedDocument, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString());
        Assert.True(cli.ExitCode == 13, cli.Stdout + cli.Stderr);
        Assert.Contains("FAILED ContentMismatch", cli.Stdout, StringComparison.Ordinal);
        Assert.Contains("the document does not match the signature", cli.Stderr, StringComparison.Ordinal);

        // The signature value is the last field of the only SignerInfo: flip its last byte.
        var signature = signed.Signature;
        signature[^1] ^= 0x01;
        var tamperedSignature = Path.Combine(install.Work, signed.Serial + "-tampered.p7s");
        await File.WriteAllBytesAsync(tamperedSignature, signature);
        var result = await SignatureVerifier.VerifyAsync(signed.Content, signature, install.Options(install.Ocsp));
        Assert.Equal(FailureReason.BadSignature, result.FirstFailure!.Reason);
        Assert.False(result.SignatureValid);
        cli = install.RunVerify("--in", signed.DocumentPath, "--sig", tamperedSignature, "--ocsp", install.OcspUrl.ToString());
        Assert.True(cli.ExitCode == 12, cli.Stdout + cli.Stderr);
        Assert.Contains("FAILED BadSignature", cli.Stdout, StringComparison.Ordinal);

        // Not CMS at all.
        var garbage = Path.Combine(install.Work, "garbage.p7s");
        await File.WriteAllTextAsync(garbage, "not a signature");
        cli = install.RunVerify("--in", signed.DocumentPath, "--sig", garbage, "--ocsp", install.OcspUrl.ToString());
        Assert.True(cli.ExitCode == 10, cli.Stdout + cli.Stderr);

        // The untouched pair still verifies (the test could tell the difference).
        cli = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString());
        Assert.True(cli.ExitCode == 0, cli.Stdout + cli.Stderr);
    }

    [Fact]
    public async Task Without_a_usable_revocation_source_the_status_is_unknown_or_unavailable()
    {
        var signed = await install.SignAsync();
        var none = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath);
        Assert.True(none.ExitCode == 31, none.Stdout + none.Stderr);
        Assert.Contains("status: UNKNOWN", none.Stdout, StringComparison.Ordinal);

        // The responder answers 'unauthorized' to a client without a verifier token.
        var result = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(new RevocationSource.Ocsp(install.OcspUrl, null)));
        Assert.Equal(FailureReason.RevocationUnavailable, result.FirstFailure!.Reason);
        Assert.Contains("unauthorized", result[CheckKind.Revocation].Detail, StringComparison.Ordinal);
        var tokenFile = Path.Combine(install.Work, "wrong.token");
        await File.WriteAllTextAsync(tokenFile, "not-a-token\n");
        var cli = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString(), "--token-file", tokenFile);
        Assert.True(cli.ExitCode == 32, cli.Stdout + cli.Stderr);
    }
}
