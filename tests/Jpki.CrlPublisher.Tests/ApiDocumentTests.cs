namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// The CRL publisher's OpenAPI document: both CRL routes as application/pkix-crl with 304 and
/// problem+json 401/404, needing a verifier's token or a registered client certificate (the
/// fixture has a mutual-TLS listener); health anonymous; a named schema for every success, real JSON
/// answers checked against theirs; the reference page; Redocly's lint.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class ApiDocumentTests(CrlFixture crl)
{
    private const string Title = "JPKI CRL publisher";

    [Fact]
    public async Task The_document_lists_the_crl_routes_with_their_media_type_and_credentials()
    {
        var document = await ApiDocumentCheck.FetchAsync(crl.Http, crl.Address, Title);
        document.AssertListsEveryEndpoint(AccessMatrix.Mapped(crl.PublisherServices), _ => false);
        document.AssertSchemes(("bearer", "http"), ("mutualTLS", "mutualTLS"));
        document.AssertSecurityMatchesAccessMatrix("crl", "bearer", "mutualTLS");
        foreach (var path in new[] { "/crl/{issuerKeyId}/{file}", "/crl/{issuerKeyId}/m/{file}" })
        {
            document.AssertSecurity("GET", path, "bearer", "mutualTLS");
            document.AssertResponse("GET", path, 200, "application/pkix-crl");
            document.AssertResponse("GET", path, 401, "application/problem+json");
            document.AssertResponse("GET", path, 404, "application/problem+json");
        }

        document.AssertSecurity("GET", "/readyz");
        document.AssertErrorsAreProblems();
        document.Lint("crl-publisher");

        // Every success has a named schema (the CRLs binary); the JSON ones hold real answers.
        Assert.True(document.AssertEverySuccessHasSchema() >= 4);
        Assert.Equal("CrlHealthAnswer", document.AssertResponse("GET", "/healthz", 200, "application/json").GetProperty("$ref").GetString()!.Split('/')[^1]);
        Assert.Equal("binary", document.AssertResponse("GET", "/crl/{issuerKeyId}/{file}", 200, "application/pkix-crl").GetProperty("format").GetString());
        foreach (var path in new[] { "/healthz", "/readyz" })
        {
            await ResponseSchemaCheck.AssertAnswerAsync(crl.Http, document, HttpMethod.Get, new Uri(crl.Address, path), path);
        }

        var wrong = System.Text.Json.JsonDocument.Parse("""{"status": "ok", "stale": {}}""").RootElement;
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => ResponseSchemaCheck.AssertValid(document, "GET", "/healthz", 200, wrong));

        await ApiDocumentCheck.AssertReferencePageAsync(crl.Http, crl.Address, Title);
    }
}
