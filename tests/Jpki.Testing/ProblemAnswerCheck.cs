using System.Text.Json;
using Xunit;

namespace Jpki.Testing;

/// <summary>The check every service's plain HTTP errors share: an RFC 7807 problem+json body with the status and type.</summary>
public static class ProblemAnswerCheck
{
    /// <summary>Sends <paramref name="method"/> <paramref name="path"/> to <paramref name="at"/> and asserts the problem answer.</summary>
    public static async Task AssertProblemAsync(HttpClient http, Uri at, string method, string path, int status, string type)
    {
        ArgumentNullException.ThrowIfNull(http);
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(at, path));
        using var response = await http.SendAsync(request);
        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(type, body.RootElement.GetProperty("type").GetString());
        Assert.Equal(status, body.RootElement.GetProperty("status").GetInt32());
    }
}
