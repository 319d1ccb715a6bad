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

    /// <summary>A whole enrolment from the lookup to the receipt; returns the card and the serials the receipt names.</summary>
    public async Task<(string Label, List<string> Serials)> EnrolAsync(string residentCode, string card, string signingPin, string authenticationPin)
    {
        await GetAsync("/enrol");
        await PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        await PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes", ["card"] = card });
        await PostAsync("/enrol/issue", Pins(signingPin, signingPin, authenticationPin, authenticationPin));
        Assert.True(Status == 200, Html);
        Assert.Contains("id=\"delivered\"", Html, StringComparison.Ordinal);
        return (CardOnPage(), SerialsOnPage());
    }

    /// <summary>The PIN form's fields.</summary>
    public static Dictionary<string, string> Pins(string signing, string signingAgain, string authentication, string authenticationAgain) => new()
    {
        ["signingPin"] = signing,
        ["signingPin2"] = signingAgain,
        ["authenticationPin"] = authentication,
        ["authenticationPin2"] = authenticationAgain,
    };

    /// <summary>
    /// Confirms the revocation the page shows (POST /revoke/confirm with the page's pending id),
    /// after checking that it names exactly <paramref name="serials"/> to be revoked.
    /// </summary>
    public async Task ConfirmRevocationAsync(IEnumerable<string> serials)
    {
        Assert.True(Status == 200, Html);
        Assert.Equal(serials.Order(), ToRevokePattern().Matches(Html).Select(m => m.Groups[1].Value).Order());
        var pending = PendingPattern().Match(Html);
        Assert.True(pending.Success, "the page has no revocation to confirm: " + Html);
        await PostAsync("/revoke/confirm", new Dictionary<string, string> { ["pending"] = pending.Groups[1].Value });
    }

    /// <summary>The card label the page (receipt) names.</summary>
    public string CardOnPage() => CardPattern().Match(Html).Groups[1].Value;

    /// <summary>The certificate serials the page (receipt) lists.</summary>
    public List<string> SerialsOnPage() => SerialPattern().Matches(Html).Select(m => m.Groups[1].Value).ToList();

    [GeneratedRegex("<td class=\"serial\">([0-9a-f]+)</td>")]
    private static partial Regex SerialPattern();

    [GeneratedRegex("<td id=\"card\">(CARD-[0-9A-F]{8})</td>")]
    private static partial Regex CardPattern();

    [GeneratedRegex("<tr class=\"to-revoke\">\\s*<td class=\"serial\">([0-9a-f]+)</td>")]
    private static partial Regex ToRevokePattern();

    [GeneratedRegex("name=\"pending\" value=\"([0-9a-f]+)\"")]
    private static partial Regex PendingPattern();

    [GeneratedRegex("name=\"__kiosk_csrf\" value=\"([^\"]+)\"")]
    private static partial Regex TokenPattern();
}
