using System.Net;
using System.Text.RegularExpressions;

namespace Jpki.Ca.Tests;

/// <summary>
/// A browser-like client of the officer console over plain HTTP: its own cookie jar, no redirects
/// followed, forms posted with the form token read from the page the officer last saw.
/// </summary>
public sealed partial class OfficerConsoleClient : IDisposable
{
    private readonly CookieContainer cookies = new();
    private readonly HttpClient http;

    public OfficerConsoleClient(Uri caAddress)
    {
        http = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = caAddress };
    }

    /// <summary>The console session cookie's value; null when not logged in.</summary>
    public string? Session => cookies.GetCookies(new Uri(http.BaseAddress!, "console/")).FirstOrDefault(c => c.Name == "jpki-console")?.Value;

    /// <summary>Logs in with an API token; the login's status (302 when a session was made).</summary>
    public async Task<HttpStatusCode> LoginAsync(string token)
    {
        using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token });
        using var response = await http.PostAsync(new Uri("console/login", UriKind.Relative), form);
        return response.StatusCode;
    }

    public async Task<(HttpStatusCode Status, string Html, string? Location)> GetAsync(string path)
    {
        using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Location?.OriginalString);
    }

    /// <summary>Posts a form; <paramref name="csrf"/> null leaves the token out.</summary>
    public async Task<(HttpStatusCode Status, string Html, string? Location)> PostAsync(string path, string? csrf, Dictionary<string, string>? fields = null, string? origin = null)
    {
        var values = new Dictionary<string, string>(fields ?? []);
        if (csrf is not null)
        {
            values["csrf"] = csrf;
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative)) { Content = new FormUrlEncodedContent(values) };
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Location?.OriginalString);
    }

    /// <summary>Posts a multipart form (a file upload): the token, the text fields and one file.</summary>
    public async Task<(HttpStatusCode Status, string Html, string? Location)> PostFileAsync(string path, string? csrf, string fileField, byte[] file, Dictionary<string, string>? fields = null)
    {
        using var content = new MultipartFormDataContent();
        if (csrf is not null)
        {
            content.Add(new StringContent(csrf), "csrf");
        }

        foreach (var (name, value) in fields ?? [])
        {
            content.Add(new StringContent(value), name);
        }

        content.Add(new ByteArrayContent(file), fileField, "client.der");
        using var response = await http.PostAsync(new Uri(path, UriKind.Relative), content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Location?.OriginalString);
    }

    /// <summary>The form token of the first form on <paramref name="path"/>, as a browser would send it.</summary>
    public async Task<string> CsrfOfAsync(string path)
    {
        var (status, html, _) = await GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, status);
        var match = CsrfField().Match(html);
        Assert.True(match.Success, "no form token on " + path + ": " + html);
        return match.Groups[1].Value;
    }

    /// <summary>Sends this cookie as the console session (a session made elsewhere, of any role).</summary>
    public void UseSession(string session) =>
        cookies.Add(new Uri(http.BaseAddress!, "console/"), new Cookie("jpki-console", session, "/console"));

    public void Dispose() => http.Dispose();

    [GeneratedRegex("<input type=\"hidden\" name=\"csrf\" value=\"([0-9a-f]{64})\"")]
    private static partial Regex CsrfField();
}
