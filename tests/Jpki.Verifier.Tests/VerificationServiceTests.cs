using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
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
        await ApiDocumentCheck.AssertReferencePageAsync(install.Ca.Http, address, title);
    }

    private async Task<RunningService> StartAsync(Uri ocsp, long maxRequestBytes)
    {
        var app = VerifyServiceHost.Build(new VerifyServiceOptions
        {
            ListenUrl = "http://127.0.0.1:0",
            StoreConnectionString = Jpki.Core.Configuration.JpkiSettings.Load(install.Ca.Home).ConnectionString,
            Roots = TrustAnchors.FromDirectory(install.RootsDirectory),
            Revocation = new RevocationSource.Ocsp(ocsp, install.VerifierToken),
            MaxRequestBytes = maxRequestBytes,
            ConfigureLogging = logging => logging.ClearProviders(),
        });
        await app.StartAsync();
        return new RunningService(app, new Uri(app.Urls.Single().TrimEnd('/') + "/api/v1/verify"));
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
