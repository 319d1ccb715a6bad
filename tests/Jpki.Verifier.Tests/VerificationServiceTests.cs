using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Jpki.Hosting;
using Jpki.Verifier.Service;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Jpki.Verifier.Tests;

/// <summary>
/// The HTTP verification service on 127.0.0.1: the JSON of <c>jpki verify --json</c> for CMS and
/// XML, verifier tokens, problem+json for bad input, and OCSP answers cached per nextUpdate
/// (counted at a pass-through in front of the real responder).
/// </summary>
[Collection(VerifierGroup.Name)]
public sealed class VerificationServiceTests(VerifierFixture install)
{
    [Fact]
    public async Task A_burst_of_filings_from_one_resident_costs_one_OCSP_query_and_answers_the_json_of_verify()
    {
        await using var proxy = await CountingOcspProxy.StartAsync(install.OcspUrl);
        await using var service = await StartAsync(proxy.Url, maxRequestBytes: 64 * 1024);
        var key = await install.IssueExportedKeyAsync("signing", name: "申告　太郎");
        var documents = new List<(byte[] Document, byte[] Signature)>();
        for (var i = 0; i < 5; i++)
        {
            documents.Add(SignWithOpenssl(key, $"<Return>filing {i} of {key.Serial}</Return>", $"burst-{key.Serial}-{i}"));
        }

        // 5 filings, each sent 4 times at once: 20 verifications, one certificate.
        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => PostAsync(service.Url, install.VerifierToken, Cms(documents[i % 5]))));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.Status));
        Assert.All(answers, a => Assert.True(a.Json.RootElement.GetProperty("valid").GetBoolean(), a.Body));
        Assert.Equal(1, proxy.Queries);

        // The same JSON as the command line, field by field (validation time and freshness aside).
        var first = documents[0];
        var documentPath = Path.Combine(install.Work, $"burst-{key.Serial}-0.xml");
        var signaturePath = Path.Combine(install.Work, $"burst-{key.Serial}-0.p7s");
        var cli = install.RunVerify("--in", documentPath, "--sig", signaturePath, "--ocsp", install.OcspUrl.ToString(), "--json");
        Assert.True(cli.ExitCode == 0, cli.ToString());
        using var cliJson = JsonDocument.Parse(cli.Stdout);
        var http = answers[0].Json.RootElement;
        foreach (var property in new[] { "valid", "signatureValid", "status", "exitCode", "facts", "signer", "chain" })
        {
            Assert.Equal(cliJson.RootElement.GetProperty(property).GetRawText(), http.GetProperty(property).GetRawText());
        }

        Assert.Equal(
            cliJson.RootElement.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("check").GetString() + c.GetProperty("status").GetString()),
            http.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("check").GetString() + c.GetProperty("status").GetString()));
        Assert.Equal("申告　太郎", http.GetProperty("facts").GetProperty("name").GetString());

        // A changed document is a verdict, not an error: 200, ContentMismatch, exit code 13; still no new query.
        var tampered = await PostAsync(service.Url, install.VerifierToken, Cms((Encoding.UTF8.GetBytes("<Return>altered</Return>"), first.Signature)));
        Assert.Equal(HttpStatusCode.OK, tampered.Status);
        Assert.Equal("ContentMismatch", tampered.Json.RootElement.GetProperty("failure").GetString());
        Assert.Equal(13, tampered.Json.RootElement.GetProperty("exitCode").GetInt32());
        Assert.Equal(1, proxy.Queries);
    }

    [Fact]
    public async Task Callers_without_a_verifier_token_and_bad_input_get_problem_json()
    {
        await using var proxy = await CountingOcspProxy.StartAsync(install.OcspUrl);
        await using var service = await StartAsync(proxy.Url, maxRequestBytes: 64 * 1024);
        var body = new { type = "cms", document = "AA==", signature = "AA==" };

        var none = await PostAsync(service.Url, null, body);
        AssertProblem(none, HttpStatusCode.Unauthorized, "urn:jpki:problem:unauthenticated");
        var operatorToken = await PostAsync(service.Url, install.Ca.Tokens["operator"], body);
        AssertProblem(operatorToken, HttpStatusCode.Unauthorized, "urn:jpki:problem:unauthenticated");

        AssertProblem(await PostRawAsync(service.Url, install.VerifierToken, "{not json", "application/json"), HttpStatusCode.BadRequest, "urn:jpki:problem:invalid-request");
        AssertProblem(await PostRawAsync(service.Url, install.VerifierToken, "type=cms", "application/x-www-form-urlencoded"), HttpStatusCode.UnsupportedMediaType, "urn:jpki:problem:unsupported-media-type");
        var noType = await PostAsync(service.Url, install.VerifierToken, new { document = "AA==" });
        AssertProblem(noType, HttpStatusCode.BadRequest, "urn:jpki:problem:invalid-request");
        Assert.Contains("'type'", noType.Body, StringComparison.Ordinal);
        var badBase64 = await PostAsync(service.Url, install.VerifierToken, new { type = "cms", document = "***", signature = "AA==" });
        AssertProblem(badBase64, HttpStatusCode.BadRequest, "urn:jpki:problem:invalid-request");
        Assert.Contains("'document' is not base64", badBase64.Body, StringComparison.Ordinal);
        var noLogin = await PostAsync(service.Url, install.VerifierToken, new { type = "auth", challenge = "{}", signature = "AA==", certificate = "AA==" });
        AssertProblem(noLogin, HttpStatusCode.BadRequest, "urn:jpki:problem:invalid-request");

        // Over the size limit: 413 before the body is read.
        var big = await PostAsync(service.Url, install.VerifierToken, new { type = "cms", document = Convert.ToBase64String(new byte[100 * 1024]), signature = "AA==" });
        AssertProblem(big, HttpStatusCode.RequestEntityTooLarge, "urn:jpki:problem:body-too-large");
        Assert.Equal(0, proxy.Queries);
    }

    [Fact]
    public async Task An_xml_signature_made_by_xmlsec1_is_verified_over_http()
    {
        await using var proxy = await CountingOcspProxy.StartAsync(install.OcspUrl);
        await using var service = await StartAsync(proxy.Url, maxRequestBytes: 64 * 1024);
        var key = await install.IssueExportedKeyAsync("signing", name: "電子　申請");
        var signing = new XmlSigning(install.Work);
        var signed = signing.Sign("service-" + key.Serial, XmlSigning.EnvelopedTemplate(), key.PrivateKeyPem, key.CertificatePem);
        var xml = await File.ReadAllBytesAsync(signed);

        var answer = await PostAsync(service.Url, install.VerifierToken, new { type = "xml", document = Convert.ToBase64String(xml), element = $"{{{XmlSigning.Namespace}}}Return" });
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.True(answer.Json.RootElement.GetProperty("valid").GetBoolean(), answer.Body);
        Assert.Equal("Return", answer.Json.RootElement.GetProperty("signedElement").GetProperty("name").GetString());

        var altered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(xml).Replace("120000", "1", StringComparison.Ordinal));
        var refused = await PostAsync(service.Url, install.VerifierToken, new { type = "xml", document = Convert.ToBase64String(altered) });
        Assert.Equal(HttpStatusCode.OK, refused.Status);
        Assert.False(refused.Json.RootElement.GetProperty("valid").GetBoolean());
        Assert.Equal(13, refused.Json.RootElement.GetProperty("exitCode").GetInt32());
    }

    /// <summary>
    /// The service's mutual-TLS listener (jpki.json verifier.mutualTls): a client certificate the
    /// officers registered to the enabled verifier account gets in without a token; an unregistered
    /// one, one registered to an operator, or none without a token gets 401 problem+json; a token
    /// still works on the TLS listener. Requests sent by curl, which presents the certificate.
    /// </summary>
    [Fact]
    public async Task Over_mutual_TLS_a_registered_client_certificate_needs_no_token_and_an_unregistered_one_or_none_gets_401()
    {
        var tls = MutualTlsFiles.Create(Path.Combine(install.Work, "service-tls"));
        var registered = tls.NewClient("verifier-backend");
        var unregistered = tls.NewClient("stranger");
        var operatorCertificate = tls.NewClient("operator-backend");
        await install.Ca.RequestAndApproveAsync(HttpMethod.Post, "api/v1/accounts/verifier/client-certificates", new { certificatePem = await File.ReadAllTextAsync(registered.Certificate) });
        // The CA API registers certificates to verifiers only; an operator's is written to the store directly, as an insider could.
        using var database = new Jpki.Core.Store.Database(Jpki.Core.Configuration.JpkiSettings.Load(install.Ca.Home).ConnectionString, TimeProvider.System);
        using (var certificate = Jpki.Core.Accounts.ClientCertificateStore.Parse(await File.ReadAllTextAsync(operatorCertificate.Certificate)))
        using (var tx = database.BeginWrite())
        {
            Jpki.Core.Accounts.ClientCertificateStore.Register(tx, "operator", certificate);
            tx.Commit();
        }

        await using var service = await StartAsync(install.OcspUrl, maxRequestBytes: 64 * 1024, new MutualTlsListener("https://127.0.0.1:0", System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(tls.ServerCertificate, tls.ServerKey)));
        var https = new Uri(service.App.Urls.Single(u => u.StartsWith("https://", StringComparison.Ordinal)).TrimEnd('/') + "/api/v1/verify");
        var key = await install.IssueExportedKeyAsync("signing", name: "証明　書子");
        var body = Path.Combine(install.Work, "service-tls", "filing.json");
        await File.WriteAllTextAsync(body, JsonSerializer.Serialize(Cms(SignWithOpenssl(key, "<Return>over mutual TLS</Return>", "tls-" + key.Serial))));

        async Task<(string Status, JsonDocument Json)> CurlAsync((string Certificate, string Key)? client, string? token = null)
        {
            List<string> arguments = ["-H", "Content-Type: application/json", "--data-binary", "@" + body, "-w", "\n%{http_code} %{content_type}"];
            if (client is { } c)
            {
                arguments.AddRange(["--cert", c.Certificate, "--key", c.Key]);
            }

            if (token is not null)
            {
                arguments.AddRange(["-H", "Authorization: Bearer " + token]);
            }

            arguments.Add(https.ToString());
            var (exitCode, output) = await tls.CurlAsync([.. arguments]);
            Assert.True(exitCode == 0, output);
            var lines = output.TrimEnd().Split('\n');
            return (lines[^1], JsonDocument.Parse(string.Join('\n', lines[..^1])));
        }

        var admitted = await CurlAsync(registered);
        Assert.Equal("200 application/json; charset=utf-8", admitted.Status);
        Assert.True(admitted.Json.RootElement.GetProperty("valid").GetBoolean(), admitted.Json.RootElement.ToString());
        Assert.Equal("証明　書子", admitted.Json.RootElement.GetProperty("facts").GetProperty("name").GetString());

        foreach (var refused in new[] { await CurlAsync(unregistered), await CurlAsync(operatorCertificate), await CurlAsync(null) })
        {
            Assert.Equal("401 application/problem+json", refused.Status);
            Assert.Equal("urn:jpki:problem:unauthenticated", refused.Json.RootElement.GetProperty("type").GetString());
            Assert.Contains("client certificate registered to an enabled verifier", refused.Json.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        var withToken = await CurlAsync(unregistered, install.VerifierToken);
        Assert.Equal("200 application/json; charset=utf-8", withToken.Status);
        Assert.True(withToken.Json.RootElement.GetProperty("valid").GetBoolean());
    }

    /// <summary>
    /// <c>type: auth</c> over HTTP: a challenge the service's audience and key issued, answered by the
    /// card's user-authentication key, is accepted once; the same answer again (a replay), a challenge
    /// of another audience (relayed), and a signing certificate in place of the authentication one are
    /// refused with their reasons. Then <c>/readyz</c> (the login store among its checks) and
    /// <c>/metrics</c> (the verifications by type and verdict).
    /// </summary>
    [Fact]
    public async Task A_login_over_http_is_accepted_once_and_a_replay_a_relayed_challenge_or_a_signing_certificate_is_refused()
    {
        const string audience = "https://e-filing.example/login";
        var macKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        var store = $"Data Source={Path.Combine(install.Work, "service-logins.db")}";
        await using var service = await StartAsync(install.OcspUrl, maxRequestBytes: 64 * 1024, login: new LoginSettings(audience, macKey, store));
        var (label, signing, authentication) = await install.EnrolCardAsync(name: "利用　者子");

        object Login(LoginChallenge challenge, LoginChallenge? sent = null, string? certificatePem = null)
        {
            var (signature, certificate) = install.Cards.SignWithAuthenticationKey(label, VerifierFixture.AuthenticationPin, challenge.ToBeSigned());
            return new { type = "auth", challenge = (sent ?? challenge).ToJson(), signature = Convert.ToBase64String(signature), certificate = certificatePem ?? Convert.ToBase64String(certificate) };
        }

        var challenge = new LoginChallengeIssuer(macKey, audience).Issue();
        var body = Login(challenge);
        var accepted = await PostAsync(service.Url, install.VerifierToken, body);
        Assert.Equal(HttpStatusCode.OK, accepted.Status);
        var answer = accepted.Json.RootElement;
        Assert.True(answer.GetProperty("valid").GetBoolean(), accepted.Body);
        Assert.Equal("good", answer.GetProperty("status").GetString());
        Assert.False(answer.TryGetProperty("facts", out _));
        Assert.Equal(audience, answer.GetProperty("login").GetProperty("audience").GetString());
        Assert.Equal(challenge.Nonce, answer.GetProperty("login").GetProperty("nonce").GetString());
        Assert.Equal(authentication.GetProperty("serial").GetString()!.TrimStart('0'), answer.GetProperty("signer").GetProperty("serial").GetString()!.TrimStart('0'), ignoreCase: true);

        var replay = await PostAsync(service.Url, install.VerifierToken, body);
        Assert.Equal(HttpStatusCode.OK, replay.Status);
        Assert.Equal("ChallengeReplayed", replay.Json.RootElement.GetProperty("failure").GetString());
        Assert.Equal(43, replay.Json.RootElement.GetProperty("exitCode").GetInt32());

        var relayed = await PostAsync(service.Url, install.VerifierToken, Login(new LoginChallengeIssuer(macKey, "https://phishing.example/login").Issue()));
        Assert.Equal("WrongAudience", relayed.Json.RootElement.GetProperty("failure").GetString());
        Assert.False(relayed.Json.RootElement.GetProperty("valid").GetBoolean());

        // The card's answer to one challenge sent with another (both this service's): the signature is not over it.
        var issuer = new LoginChallengeIssuer(macKey, audience);
        var swapped = await PostAsync(service.Url, install.VerifierToken, Login(issuer.Issue(), sent: issuer.Issue()));
        Assert.Equal("BadSignature", swapped.Json.RootElement.GetProperty("failure").GetString());

        // The resident's signing certificate (PEM) named instead of the authentication one: the key does not match it either way.
        var signingCertificate = await PostAsync(service.Url, install.VerifierToken, Login(issuer.Issue(), certificatePem: signing.GetProperty("certificatePem").GetString()));
        Assert.False(signingCertificate.Json.RootElement.GetProperty("valid").GetBoolean());
        Assert.Equal("BadSignature", signingCertificate.Json.RootElement.GetProperty("failure").GetString());

        var badChallenge = await PostAsync(service.Url, install.VerifierToken, new { type = "auth", challenge = "{\"v\":1}", signature = "AA==", certificate = "AA==" });
        AssertProblem(badChallenge, HttpStatusCode.BadRequest, "urn:jpki:problem:invalid-request");

        var root = new Uri(service.Url, "/");
        using (var ready = await install.Ca.Http.GetAsync(new Uri(root, "readyz")))
        {
            var text = await ready.Content.ReadAsStringAsync();
            Assert.True(ready.StatusCode == HttpStatusCode.OK, text);
            var checks = JsonDocument.Parse(text).RootElement.GetProperty("checks");
            Assert.Equal("ok", checks.GetProperty("store").GetString());
            Assert.Equal("ok", checks.GetProperty("logins").GetString());
            Assert.EndsWith("trusted", checks.GetProperty("roots").GetString(), StringComparison.Ordinal);
        }

        var metrics = await install.Ca.Http.GetStringAsync(new Uri(root, "metrics"));
        Assert.Matches(@"jpki_verifier_verifications_total\{[^}]*type=""auth""[^}]*verdict=""valid""[^}]*\} 1\b", metrics);
        Assert.Matches(@"jpki_verifier_verifications_total\{[^}]*type=""auth""[^}]*verdict=""ChallengeReplayed""[^}]*\} 1\b", metrics);
        Assert.Matches(@"jpki_verifier_refused_total\{[^}]*reason=""invalid-request""[^}]*\} 1\b", metrics);
        Assert.Contains("service_name=\"jpki-verifier\"", metrics, StringComparison.Ordinal);
    }

    /// <summary>Without a usable store nobody can be authenticated: <c>/readyz</c> says unready (503), the store named.</summary>
    [Fact]
    public async Task Readyz_is_503_when_the_store_holds_no_install()
    {
        var app = VerifyServiceHost.Build(new VerifyServiceOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            // A store file that opens but holds no install (no chain head, no accounts): nobody can be authenticated.
            StoreConnectionString = $"Data Source={Path.Combine(install.Work, "not-an-install.db")}",
            Roots = TrustAnchors.FromDirectory(install.RootsDirectory),
            Revocation = new RevocationSource.Ocsp(install.OcspUrl, install.VerifierToken),
            ConfigureLogging = logging => logging.ClearProviders(),
        });
        await app.StartAsync();
        try
        {
            using var ready = await install.Ca.Http.GetAsync(new Uri(app.Urls.Single().TrimEnd('/') + "/readyz"));
            var text = await ready.Content.ReadAsStringAsync();
            Assert.True(ready.StatusCode == HttpStatusCode.ServiceUnavailable, text);
            var answer = JsonDocument.Parse(text).RootElement;
            Assert.Equal("unready", answer.GetProperty("status").GetString());
            Assert.NotEqual("ok", answer.GetProperty("checks").GetProperty("store").GetString());
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static void AssertProblem((HttpStatusCode Status, string? ContentType, string Body, JsonDocument Json) answer, HttpStatusCode status, string type)
    {
        Assert.True(answer.Status == status, $"{answer.Status}: {answer.Body}");
        Assert.Equal("application/problem+json", answer.ContentType);
        Assert.Equal(type, answer.Json.RootElement.GetProperty("type").GetString());
    }

    private (byte[] Document, byte[] Signature) SignWithOpenssl(ExportedKey key, string content, string name)
    {
        var document = Path.Combine(install.Work, name + ".xml");
        var signature = Path.Combine(install.Work, name + ".p7s");
        var keyPath = Path.Combine(install.Work, key.Serial + ".key.pem");
        var certificatePath = Path.Combine(install.Work, key.Serial + ".cert.pem");
        File.WriteAllText(document, content);
        File.WriteAllText(keyPath, key.PrivateKeyPem);
        File.WriteAllText(certificatePath, key.CertificatePem);
        var signed = ExternalProcess.RunWith("openssl", ["cms", "-sign", "-binary", "-md", "sha256", "-in", document, "-signer", certificatePath, "-inkey", keyPath, "-outform", "DER", "-out", signature]);
        Assert.True(signed.ExitCode == 0, signed.ToString());
        return (File.ReadAllBytes(document), File.ReadAllBytes(signature));
    }

    private static object Cms((byte[] Document, byte[] Signature) signed) =>
        new { type = "cms", document = Convert.ToBase64String(signed.Document), signature = Convert.ToBase64String(signed.Signature) };

    private async Task<(HttpStatusCode Status, string? ContentType, string Body, JsonDocument Json)> PostAsync(Uri url, string? token, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = JsonContent.Create(body) };
        return await SendAsync(request, token);
    }

    private async Task<(HttpStatusCode Status, string? ContentType, string Body, JsonDocument Json)> PostRawAsync(Uri url, string? token, string body, string contentType)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, contentType) };
        return await SendAsync(request, token);
    }

    private async Task<(HttpStatusCode Status, string? ContentType, string Body, JsonDocument Json)> SendAsync(HttpRequestMessage request, string? token)
    {
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await install.Ca.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, text, JsonDocument.Parse(text.Length == 0 ? "null" : text));
    }

    /// <summary>The service's OpenAPI document: the verify operation needs a verifier's bearer token (no mutual-TLS listener here), health does not; the reference page; Redocly's lint.</summary>
    [Fact]
    public async Task The_document_lists_verify_with_its_schemas_and_the_bearer_scheme()
    {
        const string title = "JPKI verification service";
        await using var service = await StartAsync(install.OcspUrl, maxRequestBytes: 64 * 1024);
        var address = new Uri(service.Url, "/");
        var document = await ApiDocumentCheck.FetchAsync(install.Ca.Http, address, title);
        document.AssertListsEveryEndpoint(AccessMatrix.Mapped(service.App.Services), _ => false);
        // docs/access-control.md has a row for every route the service maps, and no other.
        var documented = AccessMatrix.Documented("verify");
        var mapped = AccessMatrix.Mapped(service.App.Services);
        Assert.DoesNotContain(mapped, m => !documented.Any(d => d.Method == m.Method && d.Route == m.Route));
        Assert.DoesNotContain(documented, d => !mapped.Contains((d.Method, d.Route)));
        document.AssertSecurity("GET", "/readyz");
        document.AssertSchemes(("bearer", "http"));
        document.AssertSecurity("POST", "/api/v1/verify", "bearer");
        document.AssertSecurity("GET", "/healthz");
        Assert.Equal("VerifyRequest", document.AssertRequest("POST", "/api/v1/verify", "application/json").GetProperty("$ref").GetString()!.Split('/')[^1]);
        document.AssertResponse("POST", "/api/v1/verify", 200, "application/json");
        foreach (var status in new[] { 400, 401, 413, 415 })
        {
            document.AssertResponse("POST", "/api/v1/verify", status, "application/problem+json");
        }

        document.AssertErrorsAreProblems();
        document.Lint("verification-service");

        // Every success has a named schema; a real verdict (a good signature, a malformed one) and
        // the health answers match theirs.
        Assert.True(document.AssertEverySuccessHasSchema() >= 3);
        Assert.Equal("VerificationAnswer", document.AssertResponse("POST", "/api/v1/verify", 200, "application/json").GetProperty("$ref").GetString()!.Split('/')[^1]);
        var key = await install.IssueExportedKeyAsync("signing", name: "文書　花子");
        var signed = SignWithOpenssl(key, $"<Return>schema {key.Serial}</Return>", $"schema-{key.Serial}");
        var good = await ResponseSchemaCheck.AssertAnswerAsync(install.Ca.Http, document, HttpMethod.Post, service.Url, "/api/v1/verify", JsonSerializer.Serialize(Cms(signed)), install.VerifierToken);
        Assert.True(good.GetProperty("valid").GetBoolean(), good.ToString());
        var malformed = await ResponseSchemaCheck.AssertAnswerAsync(install.Ca.Http, document, HttpMethod.Post, service.Url, "/api/v1/verify", """{"type":"cms","document":"AA==","signature":"AA=="}""", install.VerifierToken);
        Assert.False(malformed.GetProperty("valid").GetBoolean());
        foreach (var path in new[] { "/healthz", "/readyz" })
        {
            await ResponseSchemaCheck.AssertAnswerAsync(install.Ca.Http, document, HttpMethod.Get, new Uri(address, path), path);
        }

        var wrong = JsonDocument.Parse("""{"valid": "yes", "checks": {}}""").RootElement;
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => ResponseSchemaCheck.AssertValid(document, "POST", "/api/v1/verify", 200, wrong));
        await ApiDocumentCheck.AssertReferencePageAsync(install.Ca.Http, address, title);
    }

    private async Task<RunningService> StartAsync(Uri ocsp, long maxRequestBytes, MutualTlsListener? mutualTls = null, LoginSettings? login = null)
    {
        var app = VerifyServiceHost.Build(new VerifyServiceOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            StoreConnectionString = Jpki.Core.Configuration.JpkiSettings.Load(install.Ca.Home).ConnectionString,
            Roots = TrustAnchors.FromDirectory(install.RootsDirectory),
            Revocation = new RevocationSource.Ocsp(ocsp, install.VerifierToken),
            MaxRequestBytes = maxRequestBytes,
            MutualTls = mutualTls,
            Login = login,
            ConfigureLogging = logging => logging.ClearProviders(),
        });
        await app.StartAsync();
        return new RunningService(app, new Uri(app.Urls.First(u => u.StartsWith("http://", StringComparison.Ordinal)).TrimEnd('/') + "/api/v1/verify"));
    }

    private sealed record RunningService(WebApplication App, Uri Url) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }
}
