using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace Jpki.Testing;

/// <summary>
/// A service's OpenAPI document as a client reads it (<c>GET /openapi/v1.json</c>, parsed with
/// System.Text.Json, nothing of the generator's), the checks every service's test makes on it,
/// its reference page (<c>/scalar/</c>), and Redocly's linter as an independent checker.
/// </summary>
public sealed partial class ApiDocumentCheck
{
    private ApiDocumentCheck(string text)
    {
        Text = text;
        Root = JsonDocument.Parse(text).RootElement;
    }

    public string Text { get; }

    public JsonElement Root { get; }

    /// <summary>Every (method in upper case, path) the document lists.</summary>
    public IReadOnlyList<(string Method, string Path)> Operations =>
        Root.GetProperty("paths").EnumerateObject()
            .SelectMany(path => path.Value.EnumerateObject().Select(op => (op.Name.ToUpperInvariant(), path.Name)))
            .ToList();

    /// <summary>Fetches the document, checks it is OpenAPI 3.x with <paramref name="title"/> and a version.</summary>
    public static async Task<ApiDocumentCheck> FetchAsync(HttpClient http, Uri service, string title)
    {
        ArgumentNullException.ThrowIfNull(http);
        using var response = await http.GetAsync(new Uri(service, "/openapi/v1.json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var check = new ApiDocumentCheck(await response.Content.ReadAsStringAsync());
        Assert.StartsWith("3.", check.Root.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        Assert.Equal(title, check.Root.GetProperty("info").GetProperty("title").GetString());
        Assert.False(string.IsNullOrWhiteSpace(check.Root.GetProperty("info").GetProperty("version").GetString()));
        return check;
    }

    /// <summary>A route pattern as OpenAPI writes it: <c>{id:long}</c> and <c>{**encoded}</c> become <c>{id}</c>, <c>{encoded}</c>.</summary>
    public static string PathOf(string route) => Parameter().Replace(route, m => "{" + m.Groups["name"].Value + "}");

    /// <summary>
    /// Every endpoint the running service maps is in the document, but the metrics scrape, the
    /// document and its reference page themselves, and the pages for people
    /// (<paramref name="isPage"/>), none of which may be listed.
    /// </summary>
    public void AssertListsEveryEndpoint(IReadOnlyList<(string Method, string Route)> mapped, Func<string, bool> isPage)
    {
        ArgumentNullException.ThrowIfNull(mapped);
        ArgumentNullException.ThrowIfNull(isPage);
        var listed = Operations.ToHashSet();
        var expected = mapped.Where(m => m.Method != "ANY" && !NotAnApi(m.Route) && !isPage(m.Route)).ToList();
        Assert.NotEmpty(expected);
        var missing = expected.Where(m => !listed.Contains((m.Method, PathOf(m.Route)))).ToList();
        Assert.True(missing.Count == 0, "mapped but not in the document: " + string.Join(", ", missing));
        var pages = listed.Where(l => isPage(l.Path) || NotAnApi(l.Path)).ToList();
        Assert.True(pages.Count == 0, "pages or documents listed as operations: " + string.Join(", ", pages));
        Assert.DoesNotContain(listed, l => !mapped.Any(m => m.Method == l.Method && PathOf(m.Route) == l.Path));
    }

    /// <summary>The document's security schemes are exactly <paramref name="schemes"/> (name, type).</summary>
    public void AssertSchemes(params (string Name, string Type)[] schemes)
    {
        var actual = Root.TryGetProperty("components", out var components) && components.TryGetProperty("securitySchemes", out var defined)
            ? defined.EnumerateObject().Select(s => (s.Name, s.Value.GetProperty("type").GetString()!)).OrderBy(s => s.Name, StringComparer.Ordinal).ToList()
            : [];
        Assert.Equal(schemes.OrderBy(s => s.Name, StringComparer.Ordinal).ToList(), actual);
        if (schemes.Any(s => s.Type == "http"))
        {
            Assert.Equal("bearer", components.GetProperty("securitySchemes").GetProperty(schemes.First(s => s.Type == "http").Name).GetProperty("scheme").GetString());
        }
    }

    /// <summary>
    /// The operation needs one of <paramref name="schemes"/> (each alone is enough), or, with none,
    /// says it needs no credential (an empty requirement, or no <c>security</c> at all).
    /// </summary>
    public void AssertSecurity(string method, string path, params string[] schemes)
    {
        var requirements = Operation(method, path).TryGetProperty("security", out var security) ? security.EnumerateArray().ToList() : [];
        var named = requirements.SelectMany(r => r.EnumerateObject().Select(p => p.Name)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        Assert.True(schemes.Order(StringComparer.Ordinal).SequenceEqual(named), $"{method} {path}: security [{string.Join(", ", named)}], expected [{string.Join(", ", schemes)}]");
        if (schemes.Length > 0)
        {
            Assert.DoesNotContain(requirements, r => !r.EnumerateObject().Any());
        }
    }

    /// <summary>
    /// Every operation of a route documented in docs/access-control.md for <paramref name="service"/>:
    /// <c>anyone</c> needs no credential, any other row needs <paramref name="schemes"/>. Returns how many were checked.
    /// </summary>
    public int AssertSecurityMatchesAccessMatrix(string service, params string[] schemes)
    {
        var listed = Operations.ToHashSet();
        var checkedCount = 0;
        foreach (var rule in AccessMatrix.Documented(service).Where(r => listed.Contains((r.Method, PathOf(r.Route)))))
        {
            AssertSecurity(rule.Method, PathOf(rule.Route), rule.Who.Contains(AccessRule.Anyone) ? [] : schemes);
            checkedCount++;
        }

        Assert.True(checkedCount > 0, $"no operation of the document has a row of {service} in docs/access-control.md");
        return checkedCount;
    }

    /// <summary>The operation answers <paramref name="status"/> with a body of <paramref name="mediaType"/> that has a schema.</summary>
    public JsonElement AssertResponse(string method, string path, int status, string mediaType)
    {
        var responses = Operation(method, path).GetProperty("responses");
        Assert.True(responses.TryGetProperty(status.ToString(System.Globalization.CultureInfo.InvariantCulture), out var response), $"{method} {path}: no {status} response");
        Assert.True(response.TryGetProperty("content", out var content), $"{method} {path} {status}: no content");
        Assert.True(content.TryGetProperty(mediaType, out var media), $"{method} {path} {status}: no {mediaType} content");
        Assert.True(media.TryGetProperty("schema", out var schema), $"{method} {path} {status} {mediaType}: no schema");
        return schema;
    }

    /// <summary>
    /// Every operation answers at least one 2xx, and every 2xx but a 204 has a body whose every media
    /// type has a schema that says something (a reference, a type or a composition, not <c>{}</c>):
    /// a new endpoint without <c>Produces&lt;T&gt;</c> fails here. Returns how many 2xx answers were checked.
    /// </summary>
    public int AssertEverySuccessHasSchema()
    {
        var missing = new List<string>();
        var checkedCount = 0;
        foreach (var (method, path) in Operations)
        {
            var successes = Operation(method, path).GetProperty("responses").EnumerateObject().Where(r => r.Name[0] == '2').ToList();
            if (successes.Count == 0)
            {
                missing.Add($"{method} {path}: no 2xx answer");
            }

            foreach (var success in successes)
            {
                checkedCount++;
                var media = success.Value.TryGetProperty("content", out var content) ? content.EnumerateObject().ToList() : [];
                if (success.Name == "204")
                {
                    if (media.Count > 0)
                    {
                        missing.Add($"{method} {path} 204: a body");
                    }

                    continue;
                }

                if (media.Count == 0)
                {
                    missing.Add($"{method} {path} {success.Name}: no body declared");
                }

                missing.AddRange(media.Where(m => !m.Value.TryGetProperty("schema", out var schema) || !SaysSomething(schema))
                    .Select(m => $"{method} {path} {success.Name} {m.Name}: no schema"));
            }
        }

        Assert.True(missing.Count == 0, "answers without a schema: " + string.Join("; ", missing));
        return checkedCount;
    }

    /// <summary>The document's named schemas (<c>components.schemas</c>), to resolve an answer's references.</summary>
    public JsonElement ComponentSchemas =>
        Root.TryGetProperty("components", out var components) && components.TryGetProperty("schemas", out var schemas) ? schemas : default;

    /// <summary>The operation reads a body of <paramref name="mediaType"/> with a schema.</summary>
    public JsonElement AssertRequest(string method, string path, string mediaType)
    {
        var operation = Operation(method, path);
        Assert.True(operation.TryGetProperty("requestBody", out var body), $"{method} {path}: no request body");
        Assert.True(body.GetProperty("content").TryGetProperty(mediaType, out var media), $"{method} {path}: request not {mediaType}");
        return media.GetProperty("schema");
    }

    /// <summary>
    /// Every error response the document lists is <c>application/problem+json</c> (but the 503 of
    /// /readyz and /healthz, which is their status body); returns how many.
    /// </summary>
    public int AssertErrorsAreProblems()
    {
        var errors = 0;
        foreach (var (method, path) in Operations.Where(o => o.Path is not ("/readyz" or "/healthz")))
        {
            foreach (var response in Operation(method, path).GetProperty("responses").EnumerateObject().Where(r => r.Name[0] is '4' or '5'))
            {
                errors++;
                var types = response.Value.TryGetProperty("content", out var content) ? content.EnumerateObject().Select(c => c.Name).ToList() : [];
                Assert.True(types.SequenceEqual(["application/problem+json"]), $"{method} {path} {response.Name}: [{string.Join(", ", types)}]");
            }
        }

        // A document with only /readyz and /healthz (the kiosk's: its pages are not API operations) lists no other error.
        Assert.True(errors > 0 || Operations.All(o => o.Path is "/readyz" or "/healthz"), "no error answer is listed");
        return errors;
    }

    /// <summary>
    /// <c>/scalar/</c> answers an HTML page that loads its script from the service itself (no CDN:
    /// an install may be offline), and that script is there.
    /// </summary>
    public static async Task AssertReferencePageAsync(HttpClient http, Uri service, string title)
    {
        ArgumentNullException.ThrowIfNull(http);
        using var page = await http.GetAsync(new Uri(service, "/scalar/"));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains($"<title>{title}</title>", html, StringComparison.Ordinal);
        var scripts = ScriptSource().Matches(html).Select(m => m.Groups["src"].Value).ToList();
        Assert.Contains("scalar.js", scripts);
        Assert.DoesNotContain(scripts, s => s.Contains("//", StringComparison.Ordinal));
        Assert.Contains("connect-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        using var script = await http.GetAsync(new Uri(service, "/scalar/scalar.js"));
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.True((await script.Content.ReadAsByteArrayAsync()).Length > 100_000, "the reference page's script is not the embedded bundle");
    }

    /// <summary>
    /// Redocly CLI's <c>lint</c> (its recommended rules; errors fail, warnings are reported) on the
    /// document: a checker that shares nothing with ASP.NET Core's generator. <c>./jpki test</c>
    /// installs it (npm, @redocly/cli).
    /// </summary>
    public string Lint(string name)
    {
        var directory = Directory.CreateTempSubdirectory("jpki-openapi-");
        try
        {
            var path = Path.Combine(directory.FullName, name + ".json");
            File.WriteAllText(path, Text);
            ProcessResult result;
            try
            {
                result = ExternalProcess.RunWith("redocly", ["lint", "--format=summary", path], new Dictionary<string, string>
                {
                    ["REDOCLY_TELEMETRY"] = "off",
                    ["REDOCLY_SUPPRESS_UPDATE_NOTICE"] = "true",
                    ["NO_COLOR"] = "1",
                });
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException("redocly is not installed: ./jpki test installs it (npm install -g @redocly/cli)", e);
            }

            var output = result.Stdout + result.Stderr;
            Assert.True(result.ExitCode == 0, $"redocly lint {name}: exit {result.ExitCode}\n{output}");
            var warnings = WarningCount().Match(output) is { Success: true } m ? m.Groups[1].Value : "0";
            var summary = $"openapi {name}: {Operations.Count} operations, redocly lint valid ({warnings} warnings)";
            AccessMatrix.Report(summary);
            return summary;
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static bool SaysSomething(JsonElement schema) =>
        schema.ValueKind == JsonValueKind.Object
        && schema.EnumerateObject().Any(p => p.Name is "$ref" or "type" or "oneOf" or "anyOf" or "allOf" or "items" or "properties" or "enum" or "const");

    private static bool NotAnApi(string route) =>
        route == "/metrics" || route.StartsWith("/openapi/", StringComparison.Ordinal) || route.StartsWith("/scalar", StringComparison.Ordinal);

    private JsonElement Operation(string method, string path)
    {
        Assert.True(Root.GetProperty("paths").TryGetProperty(path, out var item), $"no path {path} in the document");
        Assert.True(item.TryGetProperty(method.ToLowerInvariant(), out var operation), $"no {method} {path} in the document");
        return operation;
    }

    [GeneratedRegex(@"\{\**(?<name>[^}:?]+)[^}]*\}")]
    private static partial Regex Parameter();

    [GeneratedRegex("<script[^>]*src=\"(?<src>[^\"]+)\"")]
    private static partial Regex ScriptSource();

    [GeneratedRegex(@"You have (\d+) warning")]
    private static partial Regex WarningCount();
}
