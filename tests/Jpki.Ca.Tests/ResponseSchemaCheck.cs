using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace Jpki.Ca.Tests;

/// <summary>
/// A real answer checked against the schema its operation declares in the OpenAPI document, with
/// JsonSchema.Net (JSON Schema 2020-12, the dialect of OpenAPI 3.1): a checker that shares nothing
/// with ASP.NET Core's generator. The document's <c>#/components/schemas/X</c> references are
/// resolved as <c>#/$defs/X</c> of one schema that carries them all.
/// </summary>
internal static class ResponseSchemaCheck
{
    public static void AssertValid(ApiDocumentCheck document, string method, string path, int status, JsonElement answer)
    {
        var declared = document.AssertResponse(method, path, status, "application/json");
        var schemaText = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["$defs"] = JsonNode.Parse(document.ComponentSchemas.GetRawText()),
            ["allOf"] = new JsonArray(JsonNode.Parse(declared.GetRawText())),
        }.ToJsonString().Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal);
        // A base address of its own per build: the library registers every schema it builds.
        var schema = JsonSchema.FromText(schemaText, baseUri: new Uri($"https://schemas.jpki.invalid/{Guid.NewGuid():N}.json"));
        var result = schema.Evaluate(answer, new EvaluationOptions { OutputFormat = OutputFormat.List, RequireFormatValidation = true });
        var errors = (result.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} ({d.EvaluationPath}): {e.Key} {e.Value}"))
            .ToList();
        Assert.True(result.IsValid, $"{method} {path} {status}: the answer does not match its schema: {string.Join("; ", errors)}\n{answer}");
    }
}
