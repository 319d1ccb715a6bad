using System.Net;
using System.Text.RegularExpressions;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// An operator's browser at the HTTP level: one cookie jar, follows redirects, and posts forms
/// with the antiforgery token read from the page it last saw, as a browser would.
/// </summary>
public sealed partial class KioskBrowser : IDisposable
{
    private readonly HttpClient http;

    public KioskBrowser(Uri kiosk)
    {
        http = new HttpClient(new HttpClientHandler { CookieContainer = Cookies, AllowAutoRedirect = true }) { BaseAddress = kiosk };
    }

    public CookieContainer Cookies { get; } = new();

    public string Html { get; private set; } = "";

    public int Status { get; private set; }

    public async Task<string> GetAsync(string path)
    {
        using var response = await http.GetAsync(new Uri(path.TrimStart('/'), UriKind.Relative));
        return await Keep(response);
    }

    /// <summary>Posts a form with the antiforgery token of the page last seen.</summary>
    public async Task<string> PostAsync(string path, IDictionary<string, string> fields, bool withToken = true)
    {
        var values = new Dictionary<string, string>(fields);
        if (withToken)
        {
            var token = TokenPattern().Match(Html);
            Assert.True(token.Success, "the page has no antiforgery token: " + Html);
            values["__kiosk_csrf"] = WebUtility.HtmlDecode(token.Groups[1].Value);
        }

        using var content = new FormUrlEncodedContent(values);
        using var response = await http.PostAsync(new Uri(path.TrimStart('/'), UriKind.Relative), content);
        return await Keep(response);
    }

    public async Task LoginAsync(string account, string password)
    {
        await GetAsync("/login");
        await PostAsync("/login", new Dictionary<string, string> { ["account"] = account, ["password"] = password });
        Assert.True(Status == 200, Html);
        Assert.Contains($"<span id=\"account\">{account}</span>", Html, StringComparison.Ordinal);
    }

    public void Dispose() => http.Dispose();

    private async Task<string> Keep(HttpResponseMessage response)
    {
        Status = (int)response.StatusCode;
        Html = await response.Content.ReadAsStringAsync();
        return Html;
    }

    [GeneratedRegex("name=\"__kiosk_csrf\" value=\"([^\"]+)\"")]
    private static partial Regex TokenPattern();
}
