namespace Jpki.JukiNet.Tests;

/// <summary>
/// The simulator's OpenAPI document: the contract's lookup and feed and the simulator's
/// administration with their JSON schemas, no credential anywhere, a real answer of every operation
/// checked against its schema; the reference page; Redocly's lint.
/// </summary>
public sealed class ApiDocumentTests(SimulatorFixture simulator) : IClassFixture<SimulatorFixture>
{
    private const string Title = "Juki-Net simulator";

    [Fact]
    public async Task The_document_lists_every_endpoint_with_its_schemas_and_no_credential()
    {
        var document = await ApiDocumentCheck.FetchAsync(simulator.Http, simulator.BaseAddress, Title);
        document.AssertListsEveryEndpoint(AccessMatrix.Mapped(simulator.Services), _ => false);
        document.AssertSchemes();
        foreach (var (method, path) in document.Operations)
        {
            document.AssertSecurity(method, path);
        }

        Assert.Equal("ResidentRecord", document.AssertResponse("GET", "/api/v1/residents/{code}", 200, "application/json").GetProperty("$ref").GetString()!.Split('/')[^1]);
        document.AssertResponse("GET", "/api/v1/residents/{code}", 404, "application/problem+json");
        Assert.Equal("ChangeFeedAnswer", document.AssertResponse("GET", "/api/v1/changes", 200, "application/json").GetProperty("$ref").GetString()!.Split('/')[^1]);
        document.AssertRequest("POST", "/api/v1/changes", "application/json");
        document.AssertResponse("POST", "/api/v1/changes", 201, "application/json");
        document.AssertRequest("PUT", "/api/v1/faults", "application/json");
        document.AssertErrorsAreProblems();
        document.Lint("jukinet-simulator");

        // Every success has a named schema, and a real answer of each matches it.
        Assert.True(document.AssertEverySuccessHasSchema() >= 11);
        Assert.Equal("SimulatorHealthAnswer", document.AssertResponse("GET", "/healthz", 200, "application/json").GetProperty("$ref").GetString()!.Split('/')[^1]);
        var created = await AnswerAsync(document, HttpMethod.Post, "api/v1/residents", "/api/v1/residents",
            """{"name":"山田　花子","dateOfBirth":"1990-04-01","sex":2,"address":"山口県山口市中央１","municipalityCode":"352012"}""");
        var code = created.GetProperty("residentCode").GetString()!;
        await AnswerAsync(document, HttpMethod.Get, $"api/v1/residents/{code}", "/api/v1/residents/{code}");
        await AnswerAsync(document, HttpMethod.Post, "api/v1/changes", "/api/v1/changes", $$"""{"residentCode":"{{code}}","effectiveDate":"2026-11-01","type":"correction"}""");
        await AnswerAsync(document, HttpMethod.Get, "api/v1/changes?after=0&limit=5", "/api/v1/changes");
        await AnswerAsync(document, HttpMethod.Get, "healthz", "/healthz");
        await AnswerAsync(document, HttpMethod.Get, "api/v1/faults", "/api/v1/faults");
        await AnswerAsync(document, HttpMethod.Put, "api/v1/faults", "/api/v1/faults", "{}");
        await AnswerAsync(document, HttpMethod.Delete, "api/v1/faults", "/api/v1/faults");
        await AnswerAsync(document, HttpMethod.Get, "api/v1/generator", "/api/v1/generator");
        await AnswerAsync(document, HttpMethod.Delete, "api/v1/generator", "/api/v1/generator");
        var wrong = System.Text.Json.JsonDocument.Parse("""{"status": "ok", "residents": "many"}""").RootElement;
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => ResponseSchemaCheck.AssertValid(document, "GET", "/healthz", 200, wrong));

        await ApiDocumentCheck.AssertReferencePageAsync(simulator.Http, simulator.BaseAddress, Title);
    }

    private Task<System.Text.Json.JsonElement> AnswerAsync(ApiDocumentCheck document, HttpMethod method, string url, string path, string? json = null) =>
        ResponseSchemaCheck.AssertAnswerAsync(simulator.Http, document, method, new Uri(simulator.BaseAddress, url), path, json);
}
