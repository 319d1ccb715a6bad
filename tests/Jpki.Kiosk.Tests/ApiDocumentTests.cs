namespace Jpki.Kiosk.Tests;

/// <summary>
/// The kiosk's OpenAPI document: its pages are for people and left out, what remains (health,
/// readiness) needs no credential and answers what its named schema says; the reference page works
/// under the kiosk's strict page policy;
/// Redocly's lint.
/// </summary>
[Collection(InstallGroup.Name)]
public sealed class ApiDocumentTests(InstallFixture install)
{
    private const string Title = "JPKI enrolment kiosk";

    [Fact]
    public async Task The_document_lists_health_and_readiness_and_no_page()
    {
        var (kiosk, address) = await install.StartKioskAsync(new KioskOptions { CaBaseAddress = install.CaAddress, WindowId = "OPENAPI01" });
        await using (kiosk)
        {
            var document = await ApiDocumentCheck.FetchAsync(install.Http, address, Title);
            document.AssertListsEveryEndpoint(AccessMatrix.Mapped(kiosk.Services), route => route is not ("/healthz" or "/readyz"));
            Assert.Equal([("GET", "/healthz"), ("GET", "/readyz")], document.Operations.Order().ToList());
            document.AssertSchemes();
            document.AssertSecurityMatchesAccessMatrix("kiosk");
            document.AssertResponse("GET", "/readyz", 200, "application/json");
            document.AssertErrorsAreProblems();
            document.Lint("kiosk");
            Assert.Equal(2, document.AssertEverySuccessHasSchema());
            Assert.Equal("KioskHealthAnswer", document.AssertResponse("GET", "/healthz", 200, "application/json").GetProperty("$ref").GetString()!.Split('/')[^1]);
            foreach (var path in new[] { "/healthz", "/readyz" })
            {
                await ResponseSchemaCheck.AssertAnswerAsync(install.Http, document, HttpMethod.Get, new Uri(address, path), path);
            }

            var wrong = System.Text.Json.JsonDocument.Parse("""{"status": 1}""").RootElement;
            Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => ResponseSchemaCheck.AssertValid(document, "GET", "/healthz", 200, wrong));

            await ApiDocumentCheck.AssertReferencePageAsync(install.Http, address, Title);
        }
    }
}
