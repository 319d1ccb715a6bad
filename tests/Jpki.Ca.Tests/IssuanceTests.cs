using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Jpki.Core.Issuance;
using Jpki.Hosting;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.X509;

namespace Jpki.Ca.Tests;

[Collection(CaTestGroup.Name)]
public sealed class IssuanceTests(CaFixture ca)
{
    private const string Certificates = "api/v1/certificates";

    private static object IssueBody(string residentCode, string kind, string csr, long? jukiSequence = null, string? overrideReason = null, string? cardExpiry = null) => new
    {
        residentCode,
        kind,
        csr,
        windowId = "WIN00001A",
        jukiSequence,
        cardExpiry,
        @override = overrideReason is null ? null : new { reason = overrideReason },
    };

    [Theory]
    [InlineData("signing")]
    [InlineData("authentication")]
    public async Task IssuesOverHttpACertificateOpensslAndCerttoolAccept(string kind)
    {
        var code = await ca.AddResidentAsync();
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, kind, ca.NewCardCsr(), jukiSequence: 0, cardExpiry: "2035-03-31"));
        Assert.True(status == 201, body.ToString());
        var serial = body.GetProperty("serial").GetString()!;
        var issuerKeyId = body.GetProperty("issuerKeyId").GetString()!;
        Assert.Equal($"yamaguchi-ken-{kind}", body.GetProperty("issuerId").GetString());
        Assert.Equal($"yamaguchi-ken-{kind}-g1", issuerKeyId);
        Assert.Equal(14, body.GetProperty("notAfter").GetDateTimeOffset().UtcDateTime.Hour);

        var leaf = Path.Combine(ca.Root, serial + ".pem");
        File.WriteAllText(leaf, body.GetProperty("certificatePem").GetString());
        var openssl = ExternalProcess.Run("openssl", "verify", "-x509_strict", "-CAfile", ca.RootPemPath(issuerKeyId), leaf);
        Assert.True(openssl.ExitCode == 0, openssl.Output);
        var certtool = ExternalProcess.Run("certtool", "--verify", "--load-ca-certificate", ca.RootPemPath(issuerKeyId), "--infile", leaf);
        Assert.True(certtool.ExitCode == 0, certtool.Output);

        // The CRL DP and AIA name the issuer key as the API and docs/design.md §9 do.
        var text = ExternalProcess.Run("openssl", "x509", "-in", leaf, "-noout", "-ext", "crlDistributionPoints,authorityInfoAccess");
        Assert.Contains($"URI:http://127.0.0.1:8083/crl/{issuerKeyId}/m/352012.crl", text.Output, StringComparison.Ordinal);
        Assert.Contains("OCSP - URI:http://127.0.0.1:8082/ocsp", text.Output, StringComparison.Ordinal);

        var (getStatus, got, _) = await ca.SendAsync(HttpMethod.Get, $"{Certificates}/{serial}", "verifier");
        Assert.Equal(200, getStatus);
        Assert.Equal(serial, got.GetProperty("serial").GetString());
        Assert.Equal(kind, got.GetProperty("kind").GetString());
        Assert.Equal("good", got.GetProperty("status").GetString());
        Assert.Equal($"yamaguchi-ken-{kind}", got.GetProperty("issuerId").GetString());
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issued' AND subject = '{serial}'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM status_changes WHERE serial = '{serial}' AND status = 'good'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{serial}' AND delivery_state = 'issued' AND hmac_key_id = 'resident-hmac-v1' AND juki_sequence = 0 AND length(crl_dp_der) > 0"));
    }

    /// <summary>
    /// The one path to the lint a well-formed request can take: the builder caps notAfter by the
    /// issuer certificate but takes notBefore from the CA's clock, so a CA whose clock is behind
    /// its issuer certificate's notBefore (a ceremony on a machine whose clock ran ahead) builds a
    /// certificate that starts before its issuer. The lint refuses to sign it.
    /// </summary>
    [Fact]
    public async Task A_ca_whose_clock_is_behind_its_issuer_certificate_is_stopped_by_the_lint_and_stores_nothing()
    {
        const string issuerKeyId = "yamaguchi-ken-authentication-g1";
        using var issuer = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(ca.RootPemPath(issuerKeyId)));
        var behind = new ShiftedClock(new DateTimeOffset(issuer.NotBefore.ToUniversalTime()) - TimeSpan.FromMinutes(5) - DateTimeOffset.UtcNow);
        await using var skewed = ca.BuildCa(behind);
        await skewed.StartAsync();
        var code = await ca.AddResidentAsync();
        var csr = ca.NewCardCsr();
        var issuedBefore = ca.IssuedCertificates;
        var issuedAuditsBefore = ca.IssuedAuditRecords;

        var (status, body, contentType) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "authentication", csr), at: CaFixture.BoundAddress(skewed));

        Assert.True(status == 500, body.ToString());
        Assert.Equal("application/problem+json", contentType);
        Assert.Equal("urn:jpki:problem:lint-failed", body.GetProperty("type").GetString());
        Assert.Contains(PreIssuanceLint.ValidityWithinIssuer, body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(issuedBefore, ca.IssuedCertificates);
        Assert.Equal(issuedAuditsBefore, ca.IssuedAuditRecords);
        var refusal = ca.CountRows(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.lint-failed' AND actor = 'operator' "
            + $"AND json_extract(details, '$.issuerKeyId') = '{issuerKeyId}' AND details LIKE '%{PreIssuanceLint.ValidityWithinIssuer}%' "
            + $"AND time_us < {Jpki.Core.Store.Instant.ToMicros(new DateTimeOffset(issuer.NotBefore.ToUniversalTime()))}");
        Assert.Equal(1, refusal);

        // The same request at the fixture's CA, whose clock is right, is issued: the lint refused
        // the clock, not the request.
        var (fine, issued, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "authentication", csr));
        Assert.True(fine == 201, issued.ToString());
        await skewed.StopAsync();
    }

    /// <summary>The system clock moved by a fixed offset.</summary>
    private sealed class ShiftedClock(TimeSpan offset) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + offset;
    }

    [Fact]
    public async Task SigningCertificateCarriesTheFourFactsJukiNetHolds()
    {
        var code = await ca.AddResidentAsync(dateOfBirth: "1964-02-29", name: "髙橋　花子", address: "山口県山口市中央２－３");
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "signing", ca.NewCardCsr()));
        Assert.True(status == 201, body.ToString());
        var record = await ca.ResidentRecordAsync(code);

        var certificate = new X509CertificateParser().ReadCertificate(Encoding.ASCII.GetBytes(body.GetProperty("certificatePem").GetString()!));
        var san = GeneralNames.GetInstance(certificate.GetExtensionValue(X509Extensions.SubjectAlternativeName).GetOctets());
        var values = san.GetNames()
            .Where(n => n.TagNo == GeneralName.OtherName)
            .Select(n => OtherName.GetInstance(n.Name))
            .ToDictionary(o => o.TypeID.Id, o => DerUtf8String.GetInstance(o.Value).GetString());
        Assert.Equal(record.GetProperty("name").GetString(), values[JpkiOids.Name]);
        Assert.Equal(record.GetProperty("nameSubstitutes").GetString(), values[JpkiOids.NameSubstitutes]);
        Assert.Equal(record.GetProperty("dateOfBirth").GetString(), values[JpkiOids.DateOfBirth]);
        Assert.Equal(record.GetProperty("sex").GetInt32().ToString(System.Globalization.CultureInfo.InvariantCulture), values[JpkiOids.Sex]);
        Assert.Equal(record.GetProperty("address").GetString(), values[JpkiOids.Address]);
        Assert.Equal(record.GetProperty("addressSubstitutes").GetString(), values[JpkiOids.AddressSubstitutes]);
        Assert.DoesNotContain(code, certificate.ToString(), StringComparison.Ordinal);
        Assert.Contains("L=Yamaguchi-shi", certificate.SubjectDN.ToString(), StringComparison.Ordinal);

        // The subject CN is the issuance id: yyyyMMddHHmmss (JST) + the day's 5-digit sequence + window id.
        var cn = certificate.SubjectDN.GetValueList(X509Name.CN).Single();
        Assert.Matches("^[0-9]{14}[0-9]{5}WIN00001A$", cn);
        Assert.Equal(Jpki.Core.Jst.ToJst(new DateTimeOffset(certificate.NotBefore, TimeSpan.Zero)).ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture), cn[..14]);
    }

    [Fact]
    public async Task ConcurrentRequestsForOneKeyCertifyItOnceAndConcurrentRetriesShareTheFirstAnswer()
    {
        var code = await ca.AddResidentAsync();
        var before = ca.IssuedCertificates;
        var csr = ca.NewCardCsr();
        var racing = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "authentication", csr))));
        Assert.Single(racing, r => r.Status == 201);
        Assert.All(racing.Where(r => r.Status != 201), r => Assert.Equal((409, "urn:jpki:problem:duplicate-key"), (r.Status, r.Body.GetProperty("type").GetString())));
        Assert.Equal(before + 1, ca.IssuedCertificates);

        var body = IssueBody(code, "signing", ca.NewCardCsr());
        var key = Guid.NewGuid().ToString();
        var retries = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => ca.SendAsync(HttpMethod.Post, Certificates, "operator", body, idempotencyKey: key)));
        Assert.All(retries, r => Assert.Equal(201, r.Status));
        Assert.Single(retries.Select(r => r.Body.GetProperty("serial").GetString()).Distinct());
        Assert.Equal(before + 2, ca.IssuedCertificates);
    }

    [Fact]
    public async Task ASigningCertificateEndsNoLaterThanTheHoldersAuthenticationCertificate()
    {
        var code = await ca.AddResidentAsync();
        var (status, auth, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "authentication", ca.NewCardCsr(), cardExpiry: "2029-01-31"));
        Assert.True(status == 201, auth.ToString());
        Assert.Equal(new DateTimeOffset(2029, 1, 31, 14, 59, 59, TimeSpan.Zero), auth.GetProperty("notAfter").GetDateTimeOffset());

        var (signingStatus, signing, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "signing", ca.NewCardCsr()));
        Assert.True(signingStatus == 201, signing.ToString());
        Assert.Equal(auth.GetProperty("notAfter").GetDateTimeOffset(), signing.GetProperty("notAfter").GetDateTimeOffset());

        // Another resident's authentication certificate does not cap this one.
        var other = await ca.AddResidentAsync();
        var (otherStatus, otherSigning, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(other, "signing", ca.NewCardCsr()));
        Assert.True(otherStatus == 201, otherSigning.ToString());
        Assert.True(otherSigning.GetProperty("notAfter").GetDateTimeOffset() > new DateTimeOffset(2029, 2, 1, 0, 0, 0, TimeSpan.Zero));
    }

    [Fact]
    public async Task IssuanceOutcomesAreCountedOnTheJpkiCaMeter()
    {
        var outcomes = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == IssuanceMetrics.MeterName && instrument.Name == "jpki.ca.issuance.requests")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                outcomes.Enqueue((string)tag.Value!);
            }
        });
        listener.Start();

        var code = await ca.AddResidentAsync();
        var (status, _, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "authentication", ca.NewCardCsr()));
        Assert.Equal(201, status);
        (status, _, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "authentication", "bm90IGEgY3Ny"));
        Assert.Equal(400, status);
        Assert.Contains("issued", outcomes);
        Assert.Contains("urn:jpki:problem:csr-malformed", outcomes);
    }

    [Fact]
    public async Task AuthenticationAndMissingTokenAndWrongRoleAndUnboundMunicipalityAreRefused()
    {
        var code = await ca.AddResidentAsync();
        var csr = ca.NewCardCsr();
        await ExpectRefusalAsync(null, IssueBody(code, "signing", csr), 401, "urn:jpki:problem:unauthenticated");
        await ExpectRefusalAsync("not-a-token", IssueBody(code, "signing", csr), 401, "urn:jpki:problem:unauthenticated");
        await ExpectRefusalAsync("officer1", IssueBody(code, "signing", csr), 403, "urn:jpki:problem:forbidden");
        await ExpectRefusalAsync(CaFixture.UbeOperator, IssueBody(code, "signing", csr), 403, "urn:jpki:problem:municipality-not-bound");
    }

    public static TheoryData<string, string> BadCsrs => new()
    {
        { "bm90IGEgY3NyIGF0IGFsbA==", "urn:jpki:problem:csr-malformed" },
        { "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n", "urn:jpki:problem:csr-malformed" },
        { "BAD-SIGNATURE", "urn:jpki:problem:csr-bad-signature" },
        { "1024-BIT", "urn:jpki:problem:csr-wrong-key-size" },
    };

    [Theory]
    [MemberData(nameof(BadCsrs))]
    public async Task BadCertificationRequestsAreRefusedAndNothingIsStored(string csr, string type)
    {
        var code = await ca.AddResidentAsync();
        csr = csr switch
        {
            "BAD-SIGNATURE" => FlipLastByte(ca.NewCardCsr()),
            "1024-BIT" => ca.NewCardCsr(bits: 1024),
            _ => csr,
        };
        await ExpectRefusalAsync("operator", IssueBody(code, "authentication", csr), 400, type);
    }

    [Fact]
    public async Task AnOversizedBodyIsRefusedWith413()
    {
        var code = await ca.AddResidentAsync();
        await ExpectRefusalAsync("operator", IssueBody(code, "authentication", new string('A', 70 * 1024)), 413, "urn:jpki:problem:body-too-large");
    }

    [Fact]
    public async Task UnknownDeceasedAndMovedOutResidentsAreRefused()
    {
        var unknown = Jpki.JukiNet.ResidentCode.FromFirstTen("9876543210").Digits;
        await ExpectRefusalAsync("operator", IssueBody(unknown, "authentication", ca.NewCardCsr()), 422, "urn:jpki:problem:unknown-resident");

        var deceased = await ca.AddResidentAsync();
        await ca.ChangeResidentAsync(deceased, "death");
        await ExpectRefusalAsync("operator", IssueBody(deceased, "authentication", ca.NewCardCsr()), 422, "urn:jpki:problem:resident-not-eligible");

        var movedOut = await ca.AddResidentAsync();
        await ca.ChangeResidentAsync(movedOut, "moveOut");
        await ExpectRefusalAsync("operator", IssueBody(movedOut, "authentication", ca.NewCardCsr()), 422, "urn:jpki:problem:resident-not-eligible");
    }

    [Fact]
    public async Task AKeyCertifiedOnceIsRefusedTheSecondTime()
    {
        var code = await ca.AddResidentAsync();
        var csr = ca.NewCardCsr();
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "authentication", csr));
        Assert.True(status == 201, body.ToString());
        await ExpectRefusalAsync("operator", IssueBody(code, "signing", csr), 409, "urn:jpki:problem:duplicate-key");
    }

    [Fact]
    public async Task AResidentChangedSinceConfirmationGets409()
    {
        var code = await ca.AddResidentAsync();
        var sequence = await ca.ChangeResidentAsync(code, "addressChange", new { address = "山口県山口市湯田温泉５－６" });
        Assert.True(sequence > 0);
        await ExpectRefusalAsync("operator", IssueBody(code, "signing", ca.NewCardCsr(), jukiSequence: 0), 409, "urn:jpki:problem:resident-changed");
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "signing", ca.NewCardCsr(), jukiSequence: sequence));
        Assert.True(status == 201, body.ToString());
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{body.GetProperty("serial").GetString()}' AND juki_sequence = {sequence}"));
    }

    [Fact]
    public async Task ASigningCertificateUnder15NeedsAnOverrideWithAReason()
    {
        var code = await ca.AddResidentAsync(dateOfBirth: "2016-04-01");
        await ExpectRefusalAsync("operator", IssueBody(code, "signing", ca.NewCardCsr()), 422, "urn:jpki:problem:under-15");
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "signing", ca.NewCardCsr(), overrideReason: "guardian present, officer approval 2026-117"));
        Assert.True(status == 201, body.ToString());
        var serial = body.GetProperty("serial").GetString();
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE subject = '{serial}' AND details LIKE '%officer approval 2026-117%'"));
    }

    [Fact]
    public async Task JukiNetDownAnswers503AndStoresNothing()
    {
        var code = await ca.AddResidentAsync();
        var csr = ca.NewCardCsr();
        var simulator = ca.SimulatorAddress;
        await ca.StopSimulatorAsync();
        try
        {
            await ExpectRefusalAsync("operator", IssueBody(code, "authentication", csr), 503, "urn:jpki:problem:jukinet-unavailable");
        }
        finally
        {
            await ca.StartSimulatorAsync(simulator.ToString().TrimEnd('/'));
        }

        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "authentication", csr));
        Assert.True(status == 201, body.ToString());
    }

    [Fact]
    public async Task AnIdempotentRetryGetsTheFirstAnswerAndADifferentBodyIsRefused()
    {
        var code = await ca.AddResidentAsync();
        var body = IssueBody(code, "authentication", ca.NewCardCsr());
        var key = Guid.NewGuid().ToString();
        var before = ca.IssuedCertificates;
        var first = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", body, idempotencyKey: key);
        var second = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", body, idempotencyKey: key);
        Assert.Equal(201, first.Status);
        Assert.Equal(201, second.Status);
        Assert.Equal(first.Body.GetProperty("serial").GetString(), second.Body.GetProperty("serial").GetString());
        Assert.Equal(before + 1, ca.IssuedCertificates);

        var other = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "authentication", ca.NewCardCsr()), idempotencyKey: key);
        Assert.Equal(422, other.Status);
        Assert.Equal("urn:jpki:problem:idempotency-key-reused", other.Body.GetProperty("type").GetString());
        Assert.Equal(before + 1, ca.IssuedCertificates);
    }

    [Fact]
    public async Task AResidentCodeIsInNoDatabaseByteAndNoLogLine()
    {
        var code = await ca.AddResidentAsync();
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", IssueBody(code, "signing", ca.NewCardCsr()));
        Assert.True(status == 201, body.ToString());
        var (lookupStatus, facts, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/residents/lookup", "operator", new { residentCode = code, purpose = "card issuance at window WIN00001A" });
        Assert.Equal(200, lookupStatus);
        Assert.Equal("352012", facts.GetProperty("municipalityCode").GetString());

        var needle = Encoding.ASCII.GetBytes(code);
        foreach (var file in Directory.GetFiles(ca.Home, "jpki.db*"))
        {
            var bytes = File.ReadAllBytes(file);
            Assert.True(bytes.AsSpan().IndexOf(needle) < 0, $"{Path.GetFileName(file)} holds the resident code");
        }

        Assert.NotEmpty(ca.LogLines);
        Assert.DoesNotContain(ca.LogLines, line => line.Contains(code, StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnknownCertificateAndUnknownPathAndWrongMethodAreProblems()
    {
        var (status, body, contentType) = await ca.SendAsync(HttpMethod.Get, $"{Certificates}/00ff", "auditor");
        Assert.Equal((404, "application/problem+json"), (status, contentType));
        Assert.Equal("urn:jpki:problem:certificate-not-found", body.GetProperty("type").GetString());

        (status, body, contentType) = await ca.SendAsync(HttpMethod.Get, "api/v1/nothing-here", null);
        Assert.Equal((404, "application/problem+json"), (status, contentType));
        Assert.Equal("urn:jpki:problem:not-found", body.GetProperty("type").GetString());

        (status, body, contentType) = await ca.SendAsync(HttpMethod.Delete, "api/v1/issuers", null);
        Assert.Equal((405, "application/problem+json"), (status, contentType));
        Assert.Equal("urn:jpki:problem:method-not-allowed", body.GetProperty("type").GetString());

        (status, body, contentType) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", rawJson: "{ not json");
        Assert.Equal((400, "application/problem+json"), (status, contentType));
        Assert.Equal("urn:jpki:problem:invalid-request", body.GetProperty("type").GetString());
    }

    [Fact]
    public async Task IssuersHealthAndLoopbackOnly()
    {
        var (status, issuers, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/issuers", null);
        Assert.Equal(200, status);
        var ids = issuers.EnumerateArray().Select(i => i.GetProperty("id").GetString()).Order().ToList();
        Assert.Equal(["yamaguchi-ken-authentication", "yamaguchi-ken-signing"], ids);
        Assert.All(issuers.EnumerateArray(), i => Assert.StartsWith("-----BEGIN CERTIFICATE-----", i.GetProperty("certificatePem").GetString(), StringComparison.Ordinal));

        var (healthStatus, health, _) = await ca.SendAsync(HttpMethod.Get, "healthz", null);
        Assert.True(healthStatus == 200, health.ToString());
        Assert.Equal("healthy", health.GetProperty("hsm").GetProperty("status").GetString());

        Assert.Throws<InvalidOperationException>(() => Loopback.EnsureListenUrls("http://0.0.0.0:8081", "the CA API"));
        Assert.Throws<InvalidOperationException>(() => Loopback.EnsureListenUrls("http://192.0.2.1:8081", "the CA API"));
        Loopback.EnsureListenUrls("http://127.0.0.1:8081", "the CA API");
        Loopback.EnsureListenUrls("http://[::1]:8081", "the CA API");
    }

    /// <summary>Sends the request and checks the answer and that nothing was issued or audited as issued.</summary>
    private async Task ExpectRefusalAsync(string? account, object body, int status, string type)
    {
        var certificates = ca.IssuedCertificates;
        var audited = ca.IssuedAuditRecords;
        var (actualStatus, problem, contentType) = await ca.SendAsync(HttpMethod.Post, Certificates, account, body);
        Assert.True(actualStatus == status, $"expected {status}, got {actualStatus}: {problem}");
        Assert.Equal("application/problem+json", contentType);
        Assert.Equal(type, problem.GetProperty("type").GetString());
        Assert.Equal(certificates, ca.IssuedCertificates);
        Assert.Equal(audited, ca.IssuedAuditRecords);
    }

    private static string FlipLastByte(string pem)
    {
        var der = Convert.FromBase64String(string.Concat(pem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal))));
        der[^1] ^= 0x01;
        return Convert.ToBase64String(der);
    }

    [Fact]
    public async Task TheOpenApiDocumentDescribesIssuance()
    {
        var (status, doc, contentType) = await ca.SendAsync(HttpMethod.Get, "/openapi/v1.json", account: null);
        Assert.Equal(200, status);
        Assert.Equal("application/json", contentType);
        var issue = doc.GetProperty("paths").GetProperty("/api/v1/certificates").GetProperty("post");
        Assert.True(issue.GetProperty("responses").TryGetProperty("201", out _));
        Assert.True(issue.GetProperty("responses").TryGetProperty("409", out _));
        Assert.True(issue.TryGetProperty("requestBody", out _));
        Assert.True(doc.GetProperty("paths").TryGetProperty("/api/v1/residents/lookup", out _));
    }
}
