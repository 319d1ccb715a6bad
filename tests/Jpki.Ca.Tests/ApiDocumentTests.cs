namespace Jpki.Ca.Tests;

/// <summary>
/// The CA API's OpenAPI document as a client reads it: every endpoint but the auditor pages, the
/// bearer scheme on exactly the operations docs/access-control.md gives a role, the main
/// operations' schemas, problem+json errors; the reference page; Redocly's lint.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class ApiDocumentTests(CaFixture ca)
{
    private const string Title = "JPKI CA API";

    [Fact]
    public async Task The_document_lists_every_api_endpoint_with_its_credential_and_schemas()
    {
        var document = await ApiDocumentCheck.FetchAsync(ca.Http, ca.CaAddress, Title);
        document.AssertListsEveryEndpoint(AccessMatrix.Mapped(ca.CaServices), route => route is "/audit" or "/console" || route.StartsWith("/audit/", StringComparison.Ordinal) || route.StartsWith("/console/", StringComparison.Ordinal));
        document.AssertSchemes(("bearer", "http"));
        Assert.True(document.AssertSecurityMatchesAccessMatrix("ca", "bearer") > 40);
        document.AssertSecurity("GET", "/api/v1/issuers");
        document.AssertSecurity("POST", "/api/v1/certificates", "bearer");

        var issue = document.AssertRequest("POST", "/api/v1/certificates", "application/json");
        Assert.Equal("IssueCertificateRequest", issue.GetProperty("$ref").GetString()!.Split('/')[^1]);
        document.AssertResponse("POST", "/api/v1/certificates", 201, "application/json");
        var status = document.AssertResponse("GET", "/api/v1/certificates/{serial}", 200, "application/json");
        Assert.Equal("CertificateStatusAnswer", status.GetProperty("$ref").GetString()!.Split('/')[^1]);
        document.AssertResponse("GET", "/api/v1/certificates/{serial}", 404, "application/problem+json");
        document.AssertResponse("GET", "/api/v1/certificates/{serial}", 401, "application/problem+json");
        document.AssertResponse("GET", "/api/v1/certificates/{serial}", 403, "application/problem+json");
        document.AssertRequest("POST", "/api/v1/certificates/{serial}/revocations", "application/json");
        document.AssertRequest("POST", "/api/v1/sessions", "application/json");
        document.AssertResponse("GET", "/api/v1/issuers/{id}/certificates/{file}", 200, "application/pem-certificate-chain");
        document.AssertResponse("GET", "/readyz", 200, "application/json");
        document.AssertErrorsAreProblems();
        document.Lint("ca");

        await ApiDocumentCheck.AssertReferencePageAsync(ca.Http, ca.CaAddress, Title);
    }
}
