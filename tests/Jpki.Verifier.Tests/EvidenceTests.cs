using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Jpki.Verifier.Tests;

/// <summary>
/// The time-stamping service (checked by <c>openssl ts -verify</c>) and long-term evidence: written
/// at verification time, checked again later from the file alone at the time its token proves.
/// </summary>
[Collection(VerifierGroup.Name)]
public sealed class EvidenceTests(VerifierFixture install)
{
    private static readonly JsonSerializerOptions RecordJson = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task The_TSA_answers_openssl_queries_with_tokens_openssl_verifies_and_its_certificate_is_a_critical_timeStamping_one()
    {
        Assert.Contains("tsa: key tsa-1 made", install.TsaInit.Stdout, StringComparison.Ordinal);
        var again = install.RunTsa("init");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("nothing to do", again.Stdout, StringComparison.Ordinal);

        var certificate = ExternalProcess.RunWith("openssl", ["x509", "-in", install.TsaCertificatePath, "-noout", "-text"]);
        Assert.Matches(@"X509v3 Extended Key Usage: critical\s+Time Stamping\s", certificate.Stdout);
        Assert.Contains("CA:FALSE", certificate.Stdout, StringComparison.Ordinal);

        var work = Directory.CreateDirectory(Path.Combine(install.Work, "tsa-openssl")).FullName;
        var data = Path.Combine(work, "filing.xml");
        await File.WriteAllTextAsync(data, "<Return>確定申告</Return>");
        var query = ExternalProcess.RunWith("openssl", ["ts", "-query", "-data", data, "-sha256", "-cert", "-out", Path.Combine(work, "q.tsq")]);
        Assert.True(query.ExitCode == 0, query.ToString());
        var reply = await PostAsync(await File.ReadAllBytesAsync(Path.Combine(work, "q.tsq")), "application/timestamp-query");
        Assert.Equal("application/timestamp-reply", reply.ContentType);
        await File.WriteAllBytesAsync(Path.Combine(work, "r.tsr"), reply.Body);

        var verified = ExternalProcess.RunWith("openssl", ["ts", "-verify", "-data", data, "-in", Path.Combine(work, "r.tsr"), "-CAfile", install.TsaCertificatePath]);
        Assert.True(verified.ExitCode == 0, verified.ToString());
        Assert.Contains("Verification: OK", verified.Stdout, StringComparison.Ordinal);

        // The policy is jpki.json's tsa.policyOid (the fixture sets one), not a built-in value.
        var token = ExternalProcess.RunWith("openssl", ["ts", "-reply", "-in", Path.Combine(work, "r.tsr"), "-text"]);
        Assert.Contains("Policy OID: " + VerifierFixture.TsaPolicy, token.Stdout, StringComparison.Ordinal);

        // Another document: openssl refuses the same token (the imprint covers the data).
        await File.WriteAllTextAsync(data, "<Return>改ざん</Return>");
        var refused = ExternalProcess.RunWith("openssl", ["ts", "-verify", "-data", data, "-in", Path.Combine(work, "r.tsr"), "-CAfile", install.TsaCertificatePath]);
        Assert.NotEqual(0, refused.ExitCode);

        // Not a query: a rejection (RFC 3161 status), and a wrong media type: problem+json.
        var garbage = await PostAsync("not a request"u8.ToArray(), "application/timestamp-query");
        await File.WriteAllBytesAsync(Path.Combine(work, "bad.tsr"), garbage.Body);
        var text = ExternalProcess.RunWith("openssl", ["ts", "-reply", "-in", Path.Combine(work, "bad.tsr"), "-text"]);
        Assert.Contains("Status: Rejected", text.Stdout, StringComparison.Ordinal);
        var wrongType = await PostAsync(await File.ReadAllBytesAsync(Path.Combine(work, "q.tsq")), "application/octet-stream");
        Assert.Equal(415, wrongType.Status);
        Assert.Equal("application/problem+json", wrongType.ContentType);
    }

    [Fact]
    public async Task Evidence_written_at_verification_time_checks_good_later_from_the_file_alone_after_the_certificate_is_revoked()
    {
        var signed = await install.SignAsync(name: "証拠　保全");
        var evidencePath = Path.Combine(install.Work, signed.Serial + ".evidence.json");
        var written = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString(), "--evidence", evidencePath, "--tsa", install.TsaUrl.ToString());
        Assert.True(written.ExitCode == 0, written.ToString());

        // The file holds the document, the signature, the chain and the OCSP answer, stamped.
        var file = JsonNode.Parse(await File.ReadAllTextAsync(evidencePath))!;
        var evidence = Convert.FromBase64String(file["evidence"]!.GetValue<string>());
        var record = JsonNode.Parse(evidence)!;
        Assert.Equal("cms", record["kind"]!.GetValue<string>());
        Assert.Equal("ocsp", record["revocationSource"]!.GetValue<string>());
        Assert.Equal(2, record["chain"]!.AsArray().Count);
        Assert.Equal(signed.Content, Convert.FromBase64String(record["document"]!.GetValue<string>()));
        Assert.True(record["ocspResponse"]!.GetValue<string>().Length > 100);

        // openssl agrees the token covers those exact bytes.
        var evidenceBin = Path.Combine(install.Work, signed.Serial + ".evidence.bin");
        var tokenDer = Path.Combine(install.Work, signed.Serial + ".token.der");
        await File.WriteAllBytesAsync(evidenceBin, evidence);
        await File.WriteAllBytesAsync(tokenDer, Convert.FromBase64String(file["timeStampToken"]!.GetValue<string>()));
        var openssl = ExternalProcess.RunWith("openssl", ["ts", "-verify", "-data", evidenceBin, "-in", tokenDer, "-token_in", "-CAfile", install.TsaCertificatePath]);
        Assert.True(openssl.ExitCode == 0, openssl.ToString());
        Assert.Contains("Verification: OK", openssl.Stdout, StringComparison.Ordinal);

        // Later: the certificate is revoked. A check now fails; the evidence still proves it was good when stamped.
        await install.RevokeAsync(signed.Serial);
        await WaitRevokedAsync(signed);
        var now = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString());
        Assert.Equal(30, now.ExitCode);

        var later = install.RunVerify("--with-evidence", evidencePath, "--tsa-cert", install.TsaCertificatePath, "--json");
        Assert.True(later.ExitCode == 0, later.ToString());
        using var json = JsonDocument.Parse(later.Stdout);
        Assert.True(json.RootElement.GetProperty("valid").GetBoolean());
        var stampedAt = json.RootElement.GetProperty("evidence").GetProperty("timeStamp").GetDateTimeOffset();
        Assert.Equal(stampedAt, json.RootElement.GetProperty("validationTime").GetDateTimeOffset());
        Assert.Equal("TimeStamp", json.RootElement.GetProperty("checks")[0].GetProperty("check").GetString());
        Assert.Equal("証拠　保全", json.RootElement.GetProperty("facts").GetProperty("name").GetString());
        Assert.Equal("Good", json.RootElement.GetProperty("revocation").GetProperty("state").GetString());

        // The library says the same, at the token's time.
        var result = await LongTermEvidence.VerifyAsync(await File.ReadAllBytesAsync(evidencePath), new EvidenceOptions
        {
            Roots = TrustAnchors.FromDirectory(install.RootsDirectory),
            TimeStampAuthorities = [.. TrustAnchors.ReadCertificates(await File.ReadAllBytesAsync(install.TsaCertificatePath))],
        });
        Assert.True(result.IsValid, string.Join("\n", result.Verification.Checks));
        Assert.Equal(stampedAt, result.TimeStampTime);
    }

    [Fact]
    public async Task Altered_evidence_or_an_untrusted_TSA_fails_with_TimeStampInvalid()
    {
        var signed = await install.SignAsync(name: "改竄　検知");
        var evidencePath = Path.Combine(install.Work, signed.Serial + ".evidence.json");
        var written = install.RunVerify("--in", signed.DocumentPath, "--sig", signed.SignaturePath, "--ocsp", install.OcspUrl.ToString(), "--evidence", evidencePath, "--tsa", install.TsaUrl.ToString());
        Assert.True(written.ExitCode == 0, written.ToString());

        // One field of the record changed (the recorded verdict): the token no longer covers it.
        var file = JsonNode.Parse(await File.ReadAllTextAsync(evidencePath))!;
        var record = JsonNode.Parse(Convert.FromBase64String(file["evidence"]!.GetValue<string>()))!;
        record["verifiedAt"] = "2030-01-01T00:00:00+00:00";
        file["evidence"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(record.ToJsonString()));
        var altered = Path.Combine(install.Work, signed.Serial + ".altered.json");
        await File.WriteAllTextAsync(altered, file.ToJsonString());
        var alteredCheck = install.RunVerify("--with-evidence", altered, "--tsa-cert", install.TsaCertificatePath);
        Assert.True(alteredCheck.ExitCode == 51, alteredCheck.ToString());
        Assert.Contains("imprint differs", alteredCheck.Stdout, StringComparison.Ordinal);

        // The good file against a TSA certificate that is not the signer's: refused too.
        var otherTsa = Path.Combine(install.Work, "other-tsa.pem");
        var made = ExternalProcess.RunWith("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", Path.Combine(install.Work, "other-tsa.key"), "-out", otherTsa, "-days", "30", "-subj", "/CN=JPKI Time-Stamping Authority 1", "-addext", "extendedKeyUsage=critical,timeStamping"]);
        Assert.True(made.ExitCode == 0, made.ToString());
        var untrusted = install.RunVerify("--with-evidence", evidencePath, "--tsa-cert", otherTsa);
        Assert.True(untrusted.ExitCode == 51, untrusted.ToString());

        // Not evidence at all.
        var notEvidence = install.RunVerify("--with-evidence", signed.DocumentPath, "--tsa-cert", install.TsaCertificatePath);
        Assert.True(notEvidence.ExitCode == 50, notEvidence.ToString());

        // --with-evidence takes no caller time.
        var withTime = install.RunVerify("--with-evidence", evidencePath, "--at", "2026-01-01T00:00:00Z");
        Assert.Equal(2, withTime.ExitCode);
    }

    /// <summary>
    /// Evidence of an XML-DSig filing signed by xmlsec1: <c>verify --xml --evidence</c> keeps the
    /// document (the signature is inside it) and the element processed, and <c>--with-evidence</c>
    /// re-checks the XML signature from the file alone. A forged record (the amount changed in the
    /// kept document) sealed by the same, genuine TSA still fails: the seal dates the record, the
    /// XML signature is checked again and no longer covers the document.
    /// </summary>
    [Fact]
    public async Task XML_evidence_is_checked_again_from_the_file_and_a_resealed_altered_document_fails_its_signature()
    {
        var key = await install.IssueExportedKeyAsync("signing", name: "電子　証跡");
        var signed = new XmlSigning(install.Work).Sign(key.Serial + "-evidence", XmlSigning.EnvelopedTemplate(), key.PrivateKeyPem, key.CertificatePem);
        var evidencePath = Path.Combine(install.Work, key.Serial + ".xml-evidence.json");
        var element = $"{{{XmlSigning.Namespace}}}Return";
        var written = install.RunVerify("--xml", signed, "--element", element, "--ocsp", install.OcspUrl.ToString(), "--evidence", evidencePath, "--tsa", install.TsaUrl.ToString());
        Assert.True(written.ExitCode == 0, written.ToString());

        var file = await File.ReadAllBytesAsync(evidencePath);
        var record = JsonNode.Parse(Convert.FromBase64String(JsonNode.Parse(file)!["evidence"]!.GetValue<string>()))!;
        Assert.Equal("xml", record["kind"]!.GetValue<string>());
        Assert.Equal(element, record["element"]!.GetValue<string>());
        Assert.Equal(await File.ReadAllBytesAsync(signed), Convert.FromBase64String(record["document"]!.GetValue<string>()));

        var later = install.RunVerify("--with-evidence", evidencePath, "--tsa-cert", install.TsaCertificatePath, "--json");
        Assert.True(later.ExitCode == 0, later.ToString());
        using (var json = JsonDocument.Parse(later.Stdout))
        {
            Assert.True(json.RootElement.GetProperty("valid").GetBoolean());
            Assert.Equal("xml", json.RootElement.GetProperty("evidence").GetProperty("kind").GetString());
            Assert.Equal("電子　証跡", json.RootElement.GetProperty("facts").GetProperty("name").GetString());
        }

        var options = new EvidenceOptions
        {
            Roots = TrustAnchors.FromDirectory(install.RootsDirectory),
            TimeStampAuthorities = [.. TrustAnchors.ReadCertificates(await File.ReadAllBytesAsync(install.TsaCertificatePath))],
        };
        var kept = JsonSerializer.Deserialize<EvidenceRecord>(Convert.FromBase64String(JsonNode.Parse(file)!["evidence"]!.GetValue<string>()), RecordJson)!;
        var forgedDocument = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(kept.Document).Replace("120000", "1", StringComparison.Ordinal));
        Assert.NotEqual(kept.Document, forgedDocument);
        var forged = await LongTermEvidence.SealAsync(kept with { Document = forgedDocument }, install.TsaUrl);
        var result = await LongTermEvidence.VerifyAsync(forged, options);
        Assert.Equal(CheckStatus.Passed, result.Verification[CheckKind.TimeStamp].Status);
        Assert.False(result.IsValid);
        Assert.Equal(FailureReason.ContentMismatch, result.Verification.FirstFailure!.Reason);
    }

    /// <summary>
    /// Evidence with CRLs instead of OCSP: the municipality partition CRL used is kept and the
    /// re-check judges it at the token's time. Once the certificate is revoked, a new verification
    /// with the next CRL records Revoked and its evidence re-checks as Revoked, while the evidence
    /// written before still proves the signature was good then.
    /// </summary>
    [Fact]
    public async Task CRL_evidence_keeps_the_CRL_used_and_a_verification_after_the_revocation_rechecks_as_revoked()
    {
        var signed = await install.SignAsync(name: "失効　記録");
        install.CrlServices.Publisher.PublishAll(delta: false, scheduled: false);
        var partition = await install.DownloadCrlAsync(signed.IssuerKeyId, "m/352012.crl", signed.Serial + "-evidence-352012.crl");
        var options = new EvidenceOptions
        {
            Roots = TrustAnchors.FromDirectory(install.RootsDirectory),
            TimeStampAuthorities = [.. TrustAnchors.ReadCertificates(await File.ReadAllBytesAsync(install.TsaCertificatePath))],
        };

        async Task<byte[]> SealedAsync(string crl)
        {
            var verifier = install.Options(RevocationSource.Crls.FromFiles([crl]));
            var result = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, verifier);
            return await LongTermEvidence.SealAsync(LongTermEvidence.Capture("cms", signed.Content, signed.Signature, null, result, verifier), install.TsaUrl);
        }

        var before = await SealedAsync(partition);
        var record = JsonNode.Parse(Convert.FromBase64String(JsonNode.Parse(before)!["evidence"]!.GetValue<string>()))!;
        Assert.Equal("crl", record["revocationSource"]!.GetValue<string>());
        Assert.Equal(await File.ReadAllBytesAsync(partition), Convert.FromBase64String(record["crls"]!.AsArray().Single()!.GetValue<string>()));
        Assert.Null(record["ocspResponse"]);
        var good = await LongTermEvidence.VerifyAsync(before, options);
        Assert.True(good.IsValid, string.Join("\n", good.Verification.Checks));
        Assert.Equal(RevocationState.Good, good.Verification.Revocation.State);
        Assert.Equal("crl", good.Verification.Revocation.Source);

        await install.RevokeAsync(signed.Serial);
        install.CrlServices.Publisher.PublishAll(delta: false, scheduled: false);
        var next = await install.DownloadCrlAsync(signed.IssuerKeyId, "m/352012.crl", signed.Serial + "-evidence-352012-next.crl");
        var after = await LongTermEvidence.VerifyAsync(await SealedAsync(next), options);
        Assert.False(after.IsValid);
        Assert.Equal(FailureReason.Revoked, after.Verification.FirstFailure!.Reason);
        Assert.Equal(RevocationState.Revoked, after.Verification.Revocation.State);

        // The evidence written before the revocation is unchanged by it.
        Assert.True((await LongTermEvidence.VerifyAsync(before, options)).IsValid);
    }

    private async Task<(int Status, string? ContentType, byte[] Body)> PostAsync(byte[] body, string contentType)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var response = await install.Ca.Http.PostAsync(install.TsaUrl, content);
        return ((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, await response.Content.ReadAsByteArrayAsync());
    }

    private async Task WaitRevokedAsync(SignedDocument signed)
    {
        // The responder learns of the revocation through its status watch (100 ms poll in the fixture).
        for (var i = 0; i < 100; i++)
        {
            var result = await SignatureVerifier.VerifyAsync(signed.Content, signed.Signature, install.Options(install.Ocsp));
            if (result.Revocation.State == RevocationState.Revoked)
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail("the responder did not report the revocation within 10 s");
    }
}
