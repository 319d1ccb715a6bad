using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using Xunit;

namespace Jpki.Testing;

/// <summary>
/// A real answer checked against the schema its operation declares in the OpenAPI document, with
/// JsonSchema.Net (JSON Schema 2020-12, the dialect of OpenAPI 3.1): a checker that shares nothing
/// with ASP.NET Core's generator. The document's <c>#/components/schemas/X</c> references are
/// resolved as <c>#/$defs/X</c> of one schema that carries them all.
/// </summary>
public static class ResponseSchemaCheck
{
    public static void AssertValid(ApiDocumentCheck document, string method, string path, int status, JsonElement answer)
    {
        ArgumentNullException.ThrowIfNull(document);
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

    /// <summary>
    /// Calls <paramref name="method"/> <paramref name="url"/> (a JSON <paramref name="json"/> body and a
    /// bearer token when given), requires a JSON answer with a status the operation
    /// <paramref name="path"/> declares, checks it against that schema and returns it.
    /// </summary>
    public static async Task<JsonElement> AssertAnswerAsync(HttpClient http, ApiDocumentCheck document, HttpMethod method, Uri url, string path, string? json = null, string? bearer = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        using var request = new HttpRequestMessage(method, url);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var status = (int)response.StatusCode;
        Assert.True(status is >= 200 and < 300 || path is "/healthz" or "/readyz", $"{method} {url}: {status} {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var answer = JsonDocument.Parse(text).RootElement.Clone();
        AssertValid(document, method.Method, path, status, answer);
        return answer;
    }
}
