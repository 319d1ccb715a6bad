using System.Text.Json;

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

    [Fact]
    public async Task Every_operation_declares_the_schema_of_its_success_and_real_answers_match_it()
    {
        var document = await ApiDocumentCheck.FetchAsync(ca.Http, ca.CaAddress, Title);
        Assert.True(document.AssertEverySuccessHasSchema() > 45);
        document.AssertErrorsAreProblems();

        // Answers of every kind the CA gives, read from the running service and checked against
        // the schema their operation declares: anonymous, any account, officer, auditor.
        await AssertAnswerAsync(document, "GET", "/api/v1/issuers", null);
        await AssertAnswerAsync(document, "GET", "/api/v1/accounts/me", "operator");
        await AssertAnswerAsync(document, "GET", "/api/v1/feed", "officer1");
        await AssertAnswerAsync(document, "GET", "/api/v1/switches", "officer1");
        await AssertAnswerAsync(document, "GET", "/api/v1/approvals", "officer1");
        await AssertAnswerAsync(document, "GET", "/api/v1/verifiers", "officer1");
        await AssertAnswerAsync(document, "GET", "/api/v1/audit/checkpoints/latest", "auditor");
        var (status, health, _) = await ca.SendAsync(HttpMethod.Get, "healthz", null);
        ResponseSchemaCheck.AssertValid(document, "GET", "/healthz", status, health);

        // A typed answer whose shape is wrong must fail the check (the check can fail).
        var wrong = JsonDocument.Parse("""{"id": 5, "role": ["operator"]}""").RootElement;
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => ResponseSchemaCheck.AssertValid(document, "GET", "/api/v1/accounts/me", 200, wrong));
    }

    private async Task AssertAnswerAsync(ApiDocumentCheck document, string method, string path, string? account)
    {
        var (status, body, contentType) = await ca.SendAsync(new HttpMethod(method), path, account);
        Assert.True(status == 200, $"{method} {path}: {status} {body}");
        Assert.Equal("application/json", contentType);
        ResponseSchemaCheck.AssertValid(document, method, path, status, body);
    }
}
