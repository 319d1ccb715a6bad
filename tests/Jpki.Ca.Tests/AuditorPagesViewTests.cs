using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Jpki.Ca.Accounts;
using Jpki.Core;

namespace Jpki.Ca.Tests;

/// <summary>
/// The auditor pages' Razor views as a reader gets them, over plain HTTP: Japanese (and the
/// arrows of the latency labels) as characters, markup in stored values encoded, the pages'
/// security headers, and the 403 page the session handler renders for another role's session.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class AuditorPagesViewTests(CaFixture ca)
{
    [Fact]
    public async Task The_login_page_is_written_in_japanese_characters_with_the_pages_headers()
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = ca.CaAddress };

        using var page = await http.GetAsync(new Uri("audit", UriKind.Relative));

        var html = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType?.ToString());
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains("<title>監査ログイン Auditor login — JPKI 監査 Audit</title>", html, StringComparison.Ordinal);
        Assert.Contains("<h1>監査ログイン Auditor login</h1>", html, StringComparison.Ordinal);
        Assert.Contains("<legend>APIトークン API token (var/secrets/auditor.token)</legend><label>トークン Token<br>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("&#x", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<span id=\"account\">", html, StringComparison.Ordinal);
        Assert.Equal("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'", Assert.Single(page.Headers.GetValues("Content-Security-Policy")));
        Assert.Equal("DENY", Assert.Single(page.Headers.GetValues("X-Frame-Options")));
        Assert.Equal("nosniff", Assert.Single(page.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("same-origin", Assert.Single(page.Headers.GetValues("Referrer-Policy")));
        Assert.True(page.Headers.CacheControl?.NoStore);
    }

    [Fact]
    public async Task A_trail_page_encodes_the_markup_of_a_statement_and_writes_kanji_and_arrows_as_characters()
    {
        const string Statement = "<b>x</b> 記録誤り 'q'";
        var serial = await IssueAndRevokeAsync(Statement);
        using var http = await AuditorAsync();

        using var page = await http.GetAsync(new Uri($"audit/certificates/{serial}", UriKind.Relative));

        var html = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<h1>失効証跡 Revocation trail</h1>", html, StringComparison.Ordinal);
        Assert.Contains("<tr><th>理由書 Statement</th><td>&lt;b&gt;x&lt;/b&gt; 記録誤り &#x27;q&#x27;</td></tr>", html, StringComparison.Ordinal);
        Assert.Contains("<th>到着→適用 Event arrival → applied</th><td>—</td>", html, StringComparison.Ordinal);
        Assert.Contains("<span id=\"account\">auditor</span>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_charts_are_inline_svg_with_their_bars_lines_labels_and_titles()
    {
        await IssueAndRevokeAsync("chart");
        var moved = await ca.AddResidentAsync();
        var sequence = await ca.ChangeResidentAsync(moved, "addressChange", new { address = "山口県山口市亀山町9－9" });
        for (var until = DateTime.UtcNow.AddSeconds(60); ca.CountRows($"SELECT COUNT(*) FROM jukinet_events WHERE sequence = {sequence}") == 0; await Task.Delay(100))
        {
            Assert.True(DateTime.UtcNow < until, "the Juki-Net event was not applied within 60 s");
        }

        using var http = await AuditorAsync();
        var today = Jst.DateOf(DateTimeOffset.UtcNow);
        var (day, label) = (today.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture), today.ToString("MM-dd", CultureInfo.InvariantCulture));

        using var page = await http.GetAsync(new Uri("audit/charts", UriKind.Relative));

        var html = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("<svg id=\"revocations-per-day\" xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"260\" viewBox=\"0 0 760 260\" role=\"img\" aria-label=\"失効件数（日別・事由別） Revocations per day by cause\">", html, StringComparison.Ordinal);
        Assert.Matches($"<rect class=\"bar\" [^>]*><title>{day} recordError: [0-9]+</title></rect>", html);
        Assert.Contains($"y=\"234\">{label}</text>", html, StringComparison.Ordinal);
        Assert.Matches("<rect x=\"592\" y=\"[0-9]+\" width=\"10\" height=\"10\" fill=\"#[0-9a-f]{6}\"></rect><text x=\"606\" y=\"[0-9]+\">recordError</text>", html);
        Assert.Contains("<title>住基ネット反映遅延（到着→適用, ms） Feed lag, arrival to applied (ms)</title>", html, StringComparison.Ordinal);
        Assert.Matches("<polyline class=\"lag-p50\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"[0-9.]+,[0-9.]+( [0-9.]+,[0-9.]+)*\"></polyline>", html);
        Assert.Matches($"<circle cx=\"[0-9.]+\" cy=\"[0-9.]+\" r=\"3\" fill=\"#d62728\"><title>{day} max: [0-9.]+ ms \\([0-9]+ events\\)</title></circle>", html);
        Assert.DoesNotContain("&#x", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Another_roles_session_cookie_gets_the_forbidden_page()
    {
        var password = File.ReadAllText(BuiltInAccounts.PasswordPath(ca.Home, "operator")).Trim();
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = ca.CaAddress };
        using var session = await http.PostAsJsonAsync(new Uri("api/v1/sessions", UriKind.Relative), new { account = "operator", password });
        Assert.Equal(HttpStatusCode.Created, session.StatusCode);
        var token = JsonDocument.Parse(await session.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("audit/revocations", UriKind.Relative));
        request.Headers.Add("Cookie", $"jpki-audit={token}");

        using var page = await http.SendAsync(request);

        var html = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Forbidden, page.StatusCode);
        Assert.Contains("<h1>禁止 Forbidden</h1><p class=\"error\">監査人のみ auditors only</p>", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<span id=\"account\">", html, StringComparison.Ordinal);
        Assert.Equal("DENY", Assert.Single(page.Headers.GetValues("X-Frame-Options")));
    }

    /// <summary>A client holding an auditor's page session (logged in with the auditor's token).</summary>
    private async Task<HttpClient> AuditorAsync()
    {
        var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = ca.CaAddress };
        using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = ca.Tokens["auditor"] });
        using var login = await http.PostAsync(new Uri("audit/login", UriKind.Relative), form);
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        return http;
    }

    private async Task<string> IssueAndRevokeAsync(string statement)
    {
        var code = await ca.AddResidentAsync();
        var (issued, issuedBody, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode = code, kind = "signing", csr = ca.NewCardCsr(), windowId = "WIN00001A" });
        Assert.True(issued == 201, issuedBody.ToString());
        var serial = issuedBody.GetProperty("serial").GetString()!;
        var (revoked, revokedBody, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/certificates/{serial}/revocations", "officer1", new { cause = "recordError", statement });
        Assert.True(revoked == 201, revokedBody.ToString());
        return serial;
    }
}
