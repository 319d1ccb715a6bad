namespace Jpki.JukiNet.Tests;

/// <summary>
/// The simulator's OpenAPI document: the contract's lookup and feed and the simulator's
/// administration with their JSON schemas, no credential anywhere; the reference page; Redocly's lint.
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

        await ApiDocumentCheck.AssertReferencePageAsync(simulator.Http, simulator.BaseAddress, Title);
    }
}
