namespace Jpki.Ocsp.Tests;

/// <summary>
/// The responder's OpenAPI document: the OCSP routes with their RFC 6960 media types, needing a
/// verifier's bearer token or (this fixture has a mutual-TLS listener) a registered client
/// certificate; health anonymous; a named schema for every success, real JSON answers checked
/// against theirs; the reference page; Redocly's lint.
/// </summary>
[Collection(OcspTestGroup.Name)]
public sealed class ApiDocumentTests(OcspFixture ocsp)
{
    private const string Title = "JPKI OCSP responder";

    [Fact]
    public async Task The_document_lists_the_ocsp_routes_with_their_media_types_and_credentials()
    {
        var document = await ApiDocumentCheck.FetchAsync(ocsp.Http, ocsp.Address, Title);
        document.AssertListsEveryEndpoint(AccessMatrix.Mapped(ocsp.Service<IServiceProvider>()), _ => false);
        document.AssertSchemes(("bearer", "http"), ("mutualTLS", "mutualTLS"));
        document.AssertSecurityMatchesAccessMatrix("ocsp", "bearer", "mutualTLS");
        document.AssertSecurity("POST", "/ocsp", "bearer", "mutualTLS");
        document.AssertSecurity("GET", "/healthz");

        Assert.Equal("binary", document.AssertRequest("POST", "/ocsp", "application/ocsp-request").GetProperty("format").GetString());
        document.AssertResponse("POST", "/ocsp", 200, "application/ocsp-response");
        document.AssertResponse("GET", "/ocsp/{encoded}", 200, "application/ocsp-response");
        document.AssertResponse("POST", "/ocsp", 413, "application/problem+json");
        document.AssertErrorsAreProblems();
        document.Lint("ocsp");

        // Every success has a named schema (the OCSP answers binary); the JSON ones hold real answers.
        Assert.True(document.AssertEverySuccessHasSchema() >= 4);
        Assert.Equal("OcspHealthAnswer", document.AssertResponse("GET", "/healthz", 200, "application/json").GetProperty("$ref").GetString()!.Split('/')[^1]);
        Assert.Equal("binary", document.AssertResponse("GET", "/ocsp/{encoded}", 200, "application/ocsp-response").GetProperty("format").GetString());
        foreach (var path in new[] { "/healthz", "/readyz" })
        {
            await ResponseSchemaCheck.AssertAnswerAsync(ocsp.Http, document, HttpMethod.Get, new Uri(ocsp.Address, path), path);
        }

        var wrong = System.Text.Json.JsonDocument.Parse("""{"status": "ok", "hsm": "healthy"}""").RootElement;
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => ResponseSchemaCheck.AssertValid(document, "GET", "/healthz", 200, wrong));

        await ApiDocumentCheck.AssertReferencePageAsync(ocsp.Http, ocsp.Address, Title);
    }
}
