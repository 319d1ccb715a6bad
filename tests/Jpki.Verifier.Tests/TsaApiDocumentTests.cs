namespace Jpki.Verifier.Tests;

/// <summary>
/// The time-stamping service's OpenAPI document: <c>POST /tsa</c> as RFC 3161 media types, the
/// certificate as PEM, no credential anywhere; a named schema for every success, the health answer
/// checked against its own; the reference page; Redocly's lint.
/// </summary>
[Collection(VerifierGroup.Name)]
public sealed class TsaApiDocumentTests(VerifierFixture install)
{
    private const string Title = "JPKI time-stamping service";

    [Fact]
    public async Task The_document_lists_the_tsa_with_its_media_types_and_no_credential()
    {
        var address = new Uri(install.TsaUrl, "/");
        var document = await ApiDocumentCheck.FetchAsync(install.Ca.Http, address, Title);
        document.AssertListsEveryEndpoint(AccessMatrix.Mapped(install.TsaServices), _ => false);
        document.AssertSchemes();
        foreach (var (method, path) in document.Operations)
        {
            document.AssertSecurity(method, path);
        }

        Assert.Equal("binary", document.AssertRequest("POST", "/tsa", "application/timestamp-query").GetProperty("format").GetString());
        document.AssertResponse("POST", "/tsa", 200, "application/timestamp-reply");
        document.AssertResponse("POST", "/tsa", 415, "application/problem+json");
        document.AssertResponse("GET", "/tsa/certificate", 200, "application/x-pem-file");
        document.AssertErrorsAreProblems();
        document.Lint("tsa");
        Assert.True(document.AssertEverySuccessHasSchema() >= 3);
        Assert.Equal("TsaHealthAnswer", document.AssertResponse("GET", "/healthz", 200, "application/json").GetProperty("$ref").GetString()!.Split('/')[^1]);
        await ResponseSchemaCheck.AssertAnswerAsync(install.Ca.Http, document, HttpMethod.Get, new Uri(address, "/healthz"), "/healthz");
        var wrong = System.Text.Json.JsonDocument.Parse("""{"status": "ok", "notAfter": "soon"}""").RootElement;
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => ResponseSchemaCheck.AssertValid(document, "GET", "/healthz", 200, wrong));

        await ApiDocumentCheck.AssertReferencePageAsync(install.Ca.Http, address, Title);
    }
}
