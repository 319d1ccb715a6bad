using System.Net;
using System.Text.RegularExpressions;
using Jpki.Core.Revocation;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;

namespace Jpki.Ocsp.Tests;

[Collection(OcspTestGroup.Name)]
public sealed partial class OcspResponderTests(OcspFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private X509Certificate IssuerCertificate(string keyId) =>
        new X509CertificateParser().ReadCertificate(File.ReadAllBytes(fixture.RootPemPath(keyId)));

    private Task<(int ExitCode, string Output)> OpensslAsync(string keyId, string? token, params string[] extra)
    {
        var root = fixture.RootPemPath(keyId);
        var arguments = new List<string> { "ocsp", "-issuer", root, "-url", new Uri(fixture.Address, "ocsp").ToString(), "-CAfile", root, "-resp_text" };
        if (token is not null)
        {
            arguments.AddRange(["-header", "Authorization=Bearer " + token]);
        }

        arguments.AddRange(extra);
        return ExternalProcess.RunAsync("openssl", [.. arguments]);
    }

    private async Task<string> PollOpensslAsync(string keyId, string token, string pemPath, string expected)
    {
        var until = DateTime.UtcNow + Deadline;
        while (true)
        {
            var (_, output) = await OpensslAsync(keyId, token, "-cert", pemPath, "-no_nonce");
            if (output.Contains($"{pemPath}: {expected}", StringComparison.Ordinal) || DateTime.UtcNow > until)
            {
                return output;
            }

            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Good_certificate_is_good_in_a_response_openssl_verifies_signed_by_the_delegated_responder()
    {
        var (_, pem) = fixture.Issue(fixture.SigningKeyId);
        var (exit, output) = await OpensslAsync(fixture.SigningKeyId, fixture.Tokens[OcspFixture.Verifier], "-cert", pem, "-no_nonce");
        Assert.True(exit == 0, output);
        Assert.Contains($"{pem}: good", output, StringComparison.Ordinal);
        Assert.Contains("Response verify OK", output, StringComparison.Ordinal);
        Assert.Matches(ResponderIdByKey(), output);
        var thisUpdate = ParseOpensslTime(ThisUpdateLine().Match(output).Groups[1].Value);
        var nextUpdate = ParseOpensslTime(NextUpdateLine().Match(output).Groups[1].Value);
        Assert.Equal(TimeSpan.FromMinutes(15), nextUpdate - thisUpdate);
    }

    [Fact]
    public async Task Answer_includes_the_responder_certificate_of_the_issuer_key_and_names_it_by_key()
    {
        var (serial, _) = fixture.Issue(fixture.AuthenticationKeyId, "authentication");
        var issuer = IssuerCertificate(fixture.AuthenticationKeyId);
        var (_, body) = await OcspTestClient.PostAsync(fixture.Http, fixture.Address, OcspTestClient.Request(issuer, new BigInteger(serial, 16)), fixture.Tokens[OcspFixture.Verifier]);
        var basic = OcspTestClient.Basic(body);
        var responder = Assert.Single(basic.GetCerts());
        Assert.True(basic.Verify(responder.GetPublicKey()));
        responder.Verify(issuer.GetPublicKey());
        Assert.Contains(KeyPurposeID.id_kp_OCSPSigning.Id, responder.GetExtendedKeyUsage().Select(o => o.Id));
        Assert.NotNull(responder.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNocheck));
        var responderId = basic.ResponderId.ToAsn1Object();
        Assert.Null(responderId.Name);
        Assert.Equal(
            Org.BouncyCastle.Security.DigestUtilities.CalculateDigest("SHA1", responder.CertificateStructure.SubjectPublicKeyInfo.PublicKey.GetBytes()),
            responderId.GetKeyHash());
        var single = Assert.Single(basic.Responses);
        Assert.Null(single.GetCertStatus());
        Assert.NotNull(single.NextUpdate);
        Assert.True(single.NextUpdate!.Value <= responder.NotAfter.ToUniversalTime());
    }

    [Theory]
    [InlineData(RevocationCause.CardLost, "keyCompromise")]
    [InlineData(RevocationCause.Death, "cessationOfOperation")]
    [InlineData(RevocationCause.MoveOut, "affiliationChanged")]
    [InlineData(RevocationCause.Renewal, "superseded")]
    [InlineData(RevocationCause.KeySafetyInDoubt, "certificateHold")]
    [InlineData(RevocationCause.RecordError, "unspecified")]
    public async Task Revoked_certificate_is_revoked_with_its_reason_and_time(RevocationCause cause, string reason)
    {
        var (serial, pem) = fixture.Issue(fixture.SigningKeyId);
        var result = fixture.Revoke(serial, cause);
        Assert.True(result.Changed);
        var output = await PollOpensslAsync(fixture.SigningKeyId, fixture.Tokens[OcspFixture.Verifier], pem, "revoked");
        Assert.Contains($"{pem}: revoked", output, StringComparison.Ordinal);
        Assert.Contains("Response verify OK", output, StringComparison.Ordinal);
        Assert.Contains("Reason: " + reason, output, StringComparison.Ordinal);
        var revokedAt = ParseOpensslTime(RevocationTimeLine().Match(output).Groups[1].Value);
        Assert.Equal(TruncateToSeconds(result.RevokedAt!.Value), revokedAt);
    }

    [Fact]
    public async Task A_revocation_replaces_the_cached_good_answer_without_a_restart_and_records_when_revoked_was_first_served()
    {
        var (serial, pem) = fixture.Issue(fixture.SigningKeyId);
        var token = fixture.Tokens[OcspFixture.Verifier];
        var (_, first) = await OpensslAsync(fixture.SigningKeyId, token, "-cert", pem, "-no_nonce");
        Assert.Contains($"{pem}: good", first, StringComparison.Ordinal);

        fixture.Revoke(serial, RevocationCause.CardLost);
        var output = await PollOpensslAsync(fixture.SigningKeyId, token, pem, "revoked");
        Assert.Contains($"{pem}: revoked", output, StringComparison.Ordinal);

        var until = DateTime.UtcNow + Deadline;
        while (fixture.Count("SELECT COUNT(*) FROM ocsp_first_revoked WHERE serial = @serial", new { serial }) == 0 && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
        }

        var produced = fixture.Count("SELECT produced_us FROM ocsp_first_revoked WHERE serial = @serial", new { serial });
        var revokedAt = fixture.Count("SELECT revoked_at_us FROM certificates WHERE serial = @serial", new { serial });
        Assert.True(produced >= revokedAt - 1_000_000, $"first revoked answer produced at {produced}, revocation at {revokedAt}");
    }

    [Fact]
    public async Task A_serial_never_issued_is_unknown()
    {
        var (exit, output) = await OpensslAsync(fixture.SigningKeyId, fixture.Tokens[OcspFixture.Verifier], "-serial", "0x1234567890abcdef1234567890abcdef", "-no_nonce");
        Assert.True(exit == 0, output);
        Assert.Contains("0x1234567890abcdef1234567890abcdef: unknown", output, StringComparison.Ordinal);
        Assert.Contains("Response verify OK", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_serial_of_the_other_issuer_key_is_unknown_to_this_one()
    {
        var (serial, _) = fixture.Issue(fixture.AuthenticationKeyId, "authentication");
        var (_, body) = await OcspTestClient.PostAsync(
            fixture.Http, fixture.Address, OcspTestClient.Request(IssuerCertificate(fixture.SigningKeyId), new BigInteger(serial, 16)), fixture.Tokens[OcspFixture.Verifier]);
        Assert.IsType<UnknownStatus>(Assert.Single(OcspTestClient.Basic(body).Responses).GetCertStatus());
    }

    [Fact]
    public async Task Sha256_CertID_is_answered_in_sha256()
    {
        var (_, pem) = fixture.Issue(fixture.SigningKeyId);
        var (exit, output) = await OpensslAsync(fixture.SigningKeyId, fixture.Tokens[OcspFixture.Verifier], "-sha256", "-cert", pem, "-no_nonce");
        Assert.True(exit == 0, output);
        Assert.Contains($"{pem}: good", output, StringComparison.Ordinal);
        Assert.Contains("Hash Algorithm: sha256", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Hash Algorithm: sha1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_token_or_with_a_non_verifier_token_the_answer_is_unauthorized()
    {
        var (_, pem) = fixture.Issue(fixture.SigningKeyId);
        foreach (var token in new string?[] { null, fixture.Tokens[OcspFixture.Operator], "not-a-token" })
        {
            var (_, output) = await OpensslAsync(fixture.SigningKeyId, token, "-cert", pem, "-no_nonce");
            Assert.Contains("Responder Error: unauthorized (6)", output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_disabled_verifier_is_refused()
    {
        var (_, pem) = fixture.Issue(fixture.SigningKeyId);
        var token = fixture.Tokens[OcspFixture.DisabledVerifier];
        var (_, before) = await OpensslAsync(fixture.SigningKeyId, token, "-cert", pem, "-no_nonce");
        Assert.Contains($"{pem}: good", before, StringComparison.Ordinal);
        fixture.Disable(OcspFixture.DisabledVerifier);
        var until = DateTime.UtcNow + Deadline;
        string after;
        do
        {
            (_, after) = await OpensslAsync(fixture.SigningKeyId, token, "-cert", pem, "-no_nonce");
        }
        while (!after.Contains("unauthorized (6)", StringComparison.Ordinal) && DateTime.UtcNow < until && await Task.Delay(100).ContinueWith(_ => true));
        Assert.Contains("Responder Error: unauthorized (6)", after, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_issuer_this_install_does_not_serve_is_unauthorized()
    {
        var keys = new RsaKeyPairGenerator();
        keys.Init(new KeyGenerationParameters(new SecureRandom(), 2048));
        var pair = keys.GenerateKeyPair();
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(BigInteger.One);
        generator.SetIssuerDN(new X509Name("C=JP, O=Elsewhere, CN=Other CA"));
        generator.SetSubjectDN(new X509Name("C=JP, O=Elsewhere, CN=Other CA"));
        generator.SetNotBefore(DateTime.UtcNow.AddDays(-1));
        generator.SetNotAfter(DateTime.UtcNow.AddDays(1));
        generator.SetPublicKey(pair.Public);
        var other = generator.Generate(new Asn1SignatureFactory("SHA256WITHRSA", pair.Private));
        var (response, body) = await OcspTestClient.PostAsync(fixture.Http, fixture.Address, OcspTestClient.Request(other, BigInteger.ValueOf(1234)), fixture.Tokens[OcspFixture.Verifier]);
        Assert.Equal(OcspRespStatus.Unauthorized, OcspTestClient.Status(body));
        Assert.Equal("no-cache", response.Headers.CacheControl?.ToString());
    }

    [Theory]
    [InlineData("garbage")]
    [InlineData("empty")]
    [InlineData("trailing")]
    [InlineData("two-certids")]
    [InlineData("oversized")]
    public async Task Malformed_requests_get_malformedRequest(string kind)
    {
        var (serial, _) = fixture.Issue(fixture.SigningKeyId);
        var valid = OcspTestClient.Request(IssuerCertificate(fixture.SigningKeyId), new BigInteger(serial, 16));
        var body = kind switch
        {
            "garbage" => "hello, responder"u8.ToArray(),
            "empty" => [],
            "trailing" => [.. valid, 0x00],
            "two-certids" => OcspTestClient.Request(IssuerCertificate(fixture.SigningKeyId), new BigInteger(serial, 16), copies: 2),
            _ => new byte[fixture.Settings.Ocsp.MaxRequestBytes + 1],
        };
        var (response, answer) = await OcspTestClient.PostAsync(fixture.Http, fixture.Address, body, fixture.Tokens[OcspFixture.Verifier]);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/ocsp-response", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(OcspRespStatus.MalformedRequest, OcspTestClient.Status(answer));
        Assert.Equal(new byte[] { 0x30, 0x03, 0x0a, 0x01, 0x01 }, answer);
    }

    [Fact]
    public async Task Get_accepts_percent_encoding_plus_as_space_raw_plus_and_a_leading_double_slash()
    {
        // Find a request whose base64 has both '+' and '/', so every variant is exercised.
        var issuer = IssuerCertificate(fixture.SigningKeyId);
        string base64;
        string serial;
        do
        {
            (serial, _) = fixture.Issue(fixture.SigningKeyId);
            base64 = Convert.ToBase64String(OcspTestClient.Request(issuer, new BigInteger(serial, 16)));
        }
        while (!base64.Contains('+', StringComparison.Ordinal) || !base64.Contains('/', StringComparison.Ordinal));

        var variants = new[]
        {
            Uri.EscapeDataString(base64), // %2B, %2F, %3D
            base64.Replace("+", "%20", StringComparison.Ordinal), // '+' that became a space on the way
            base64, // raw '+' and '/'
            "/" + Uri.EscapeDataString(base64), // …/ocsp//MEow…
        };
        foreach (var path in variants)
        {
            var (response, body) = await OcspTestClient.GetAsync(fixture.Http, fixture.Address, path, fixture.Tokens[OcspFixture.Verifier]);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var single = Assert.Single(OcspTestClient.Basic(body).Responses);
            Assert.Null(single.GetCertStatus());
            Assert.Equal(new BigInteger(serial, 16), single.GetCertID().SerialNumber);
        }

        var (bad, badBody) = await OcspTestClient.GetAsync(fixture.Http, fixture.Address, "not*base64", fixture.Tokens[OcspFixture.Verifier]);
        Assert.Equal(OcspRespStatus.MalformedRequest, OcspTestClient.Status(badBody));
        Assert.Equal("no-cache", bad.Headers.CacheControl?.ToString());
    }

    [Fact]
    public async Task A_cache_hit_makes_no_signature_and_carries_RFC5019_cache_headers()
    {
        var (serial, _) = fixture.Issue(fixture.SigningKeyId);
        var request = OcspTestClient.Request(IssuerCertificate(fixture.SigningKeyId), new BigInteger(serial, 16));
        var token = fixture.Tokens[OcspFixture.Verifier];
        var before = fixture.Signatures.Count;
        var (first, firstBody) = await OcspTestClient.PostAsync(fixture.Http, fixture.Address, request, token);
        var afterFirst = fixture.Signatures.Count;
        Assert.True(afterFirst > before, "the first query signs an answer");
        for (var i = 0; i < 10; i++)
        {
            var (_, body) = await OcspTestClient.PostAsync(fixture.Http, fixture.Address, request, token);
            Assert.Equal(firstBody, body);
        }

        // Other tests may make signatures meanwhile (status changes of their serials); ours are identical bytes, so the
        // cache answered. The counter check holds as long as no other test runs: tests of one collection run in sequence.
        Assert.Equal(afterFirst, fixture.Signatures.Count);
        var cacheControl = first.Headers.CacheControl!;
        Assert.True(cacheControl.MaxAge > TimeSpan.FromMinutes(10) && cacheControl.MaxAge <= TimeSpan.FromMinutes(15), cacheControl.ToString());
        Assert.True(cacheControl.Private && cacheControl.NoTransform && cacheControl.MustRevalidate, cacheControl.ToString());
        Assert.NotNull(first.Headers.ETag);
        Assert.NotNull(first.Content.Headers.LastModified);
        Assert.NotNull(first.Content.Headers.Expires);

        using var conditional = new HttpRequestMessage(HttpMethod.Get, new Uri(fixture.Address, "ocsp/" + Uri.EscapeDataString(Convert.ToBase64String(request))));
        conditional.Headers.Authorization = new("Bearer", token);
        conditional.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        using var notModified = await fixture.Http.SendAsync(conditional);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
    }

    [Fact]
    public async Task A_nonce_is_echoed_in_a_live_answer_within_the_verifier_budget_then_the_cached_answer_comes_without_it()
    {
        var (_, pem) = fixture.Issue(fixture.SigningKeyId);
        var token = fixture.Tokens[OcspFixture.OtherVerifier];

        // Budget in the fixture: 2 live answers, then 1 per minute.
        for (var i = 0; i < 2; i++)
        {
            var (exit, output) = await OpensslAsync(fixture.SigningKeyId, token, "-cert", pem, "-nonce");
            Assert.True(exit == 0, output);
            Assert.Contains("OCSP Nonce:", output, StringComparison.Ordinal);
            Assert.DoesNotContain("WARNING: no nonce in response", output, StringComparison.Ordinal);
            Assert.Contains("Response verify OK", output, StringComparison.Ordinal);
        }

        var (_, over) = await OpensslAsync(fixture.SigningKeyId, token, "-cert", pem, "-nonce");
        Assert.Contains($"{pem}: good", over, StringComparison.Ordinal);
        Assert.Contains("WARNING: no nonce in response", over, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_serials_are_rate_limited_per_verifier_with_tryLater_and_a_repeated_one_is_served_from_cache()
    {
        var issuer = IssuerCertificate(fixture.SigningKeyId);
        var token = fixture.Tokens[OcspFixture.UnknownsVerifier];

        // Budget in the fixture: 3 signatures for unknown serials, then 1 per minute.
        var statuses = new List<int>();
        for (var i = 1; i <= 5; i++)
        {
            var (_, body) = await OcspTestClient.PostAsync(fixture.Http, fixture.Address, OcspTestClient.Request(issuer, BigInteger.ValueOf(0x7000 + i)), token);
            statuses.Add(OcspTestClient.Status(body));
        }

        Assert.Equal([0, 0, 0, OcspRespStatus.TryLater, OcspRespStatus.TryLater], statuses);
        var (_, repeated) = await OcspTestClient.PostAsync(fixture.Http, fixture.Address, OcspTestClient.Request(issuer, BigInteger.ValueOf(0x7001)), token);
        Assert.IsType<UnknownStatus>(Assert.Single(OcspTestClient.Basic(repeated).Responses).GetCertStatus());
    }

    [Fact]
    public async Task Every_query_of_a_verifier_is_logged_with_verifier_serial_and_answer_and_a_refused_one_is_not()
    {
        var (serial, pem) = fixture.Issue(fixture.SigningKeyId);
        // The refused query first: once the verifier's row is written, a row of the refused one would be too.
        await OpensslAsync(fixture.SigningKeyId, null, "-cert", pem, "-no_nonce");
        await OpensslAsync(fixture.SigningKeyId, fixture.Tokens[OcspFixture.Verifier], "-cert", pem, "-no_nonce");
        var until = DateTime.UtcNow + Deadline;
        while (fixture.Count("SELECT COUNT(*) FROM ocsp_queries WHERE serial = @serial", new { serial }) < 1 && DateTime.UtcNow < until)
        {
            await Task.Delay(100);
        }

        Assert.Equal(1, fixture.Count("SELECT COUNT(*) FROM ocsp_queries WHERE serial = @serial AND verifier = @v AND answer = 'good' AND issuer_key_id = @k", new { serial, v = OcspFixture.Verifier, k = fixture.SigningKeyId }));
        Assert.Equal(0, fixture.Count("SELECT COUNT(*) FROM ocsp_queries WHERE serial = @serial AND verifier IS NULL", new { serial }));
    }

    [Fact]
    public async Task Ocsptool_asks_an_allowlisted_network_listener_without_credentials_and_verifies_good_and_revoked()
    {
        var (serial, pem) = fixture.Issue(fixture.SigningKeyId);
        var root = fixture.RootPemPath(fixture.SigningKeyId);
        var url = new Uri(fixture.NetworkAddress, "ocsp").ToString();
        var responseFile = Path.Combine(fixture.Root, serial + ".ocsp");
        var (exit, output) = await ExternalProcess.RunAsync("ocsptool", "--ask=" + url, "--load-issuer", root, "--load-cert", pem, "--load-trust", root, "--outfile", responseFile);
        Assert.True(exit == 0, output);
        Assert.True(output.Contains("Certificate Status: good", StringComparison.Ordinal), output);
        Assert.Contains("Verifying OCSP Response: Success", output, StringComparison.Ordinal);

        fixture.Revoke(serial, RevocationCause.Death);
        var until = DateTime.UtcNow + Deadline;
        do
        {
            (exit, output) = await ExternalProcess.RunAsync("ocsptool", "--ask=" + url, "--load-issuer", root, "--load-cert", pem, "--load-trust", root, "--outfile", responseFile);
        }
        while (!output.Contains("Certificate Status: revoked", StringComparison.Ordinal) && DateTime.UtcNow < until && await Task.Delay(100).ContinueWith(_ => true));
        Assert.Contains("Certificate Status: revoked", output, StringComparison.Ordinal);

        var (verifyExit, verified) = await ExternalProcess.RunAsync("ocsptool", "--verify-response", "--load-trust", root, "--infile", responseFile);
        Assert.True(verifyExit == 0, verified);
        Assert.Contains("Verifying OCSP Response: Success", verified, StringComparison.Ordinal);

        // The same listener still refuses a client outside the network policy's reach: the token-only listener.
        var (_, refused) = await ExternalProcess.RunAsync("ocsptool", "--ask=" + new Uri(fixture.Address, "ocsp"), "--load-issuer", root, "--load-cert", pem, "--load-trust", root);
        Assert.DoesNotContain("Certificate Status:", refused, StringComparison.Ordinal);
    }

    private static DateTimeOffset ParseOpensslTime(string text) =>
        DateTimeOffset.ParseExact(Regex.Replace(text.Trim(), @"\s+", " ").Replace(" GMT", "", StringComparison.Ordinal), "MMM d HH:mm:ss yyyy", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal);

    private static DateTimeOffset TruncateToSeconds(DateTimeOffset instant) =>
        new(instant.UtcTicks - (instant.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);

    [GeneratedRegex(@"Responder Id: [0-9A-F]{40}\b")]
    private static partial Regex ResponderIdByKey();

    [GeneratedRegex(@"This Update: (.+)")]
    private static partial Regex ThisUpdateLine();

    [GeneratedRegex(@"Next Update: (.+)")]
    private static partial Regex NextUpdateLine();

    [GeneratedRegex(@"Revocation Time: (.+)")]
    private static partial Regex RevocationTimeLine();
}
