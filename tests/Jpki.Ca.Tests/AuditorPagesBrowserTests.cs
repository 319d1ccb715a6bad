using System.Net;
using Jpki.Ca.Accounts;
using Microsoft.Playwright;

namespace Jpki.Ca.Tests;

/// <summary>
/// The auditor pages in a real browser (Debian's chromium driven by Playwright): login with the
/// auditor's token, search, the trail of a revoked certificate, an export, the charts, the
/// disclosure report and an operator's activity; a screenshot of every page is kept under
/// screenshots/auditor/ in the test output. Plus the pages' refusals, over plain HTTP.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class AuditorPagesBrowserTests(CaFixture ca)
{
    private const string ChromiumPath = "/usr/bin/chromium";

    private readonly string screenshots = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "screenshots", "auditor")).FullName;

    [Fact]
    public async Task An_auditor_walks_search_trail_export_charts_disclosure_and_activity_in_a_browser()
    {
        Assert.True(File.Exists(ChromiumPath), "Debian's chromium is needed (apt-get install chromium); ./jpki test installs it");
        var code = await ca.AddResidentAsync(municipalityCode: "352039", address: "山口県宇部市常盤町７－７");
        var (read, readBody, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/residents/lookup", CaFixture.UbeOperator, new { residentCode = code, purpose = "窓口確認 <b>window</b> check" });
        Assert.True(read == 200, readBody.ToString());
        var (issued, issuedBody, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", CaFixture.UbeOperator, new { residentCode = code, kind = "signing", csr = ca.NewCardCsr(), windowId = "WIN00007U" });
        Assert.True(issued == 201, issuedBody.ToString());
        var serial = issuedBody.GetProperty("serial").GetString()!;
        const string Statement = "<script>alert('x')</script> 記録誤り";
        var (revoked, revokedBody, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/certificates/{serial}/revocations", "officer1", new { cause = "recordError", statement = Statement });
        Assert.True(revoked == 201, revokedBody.ToString());

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ChromiumPath, Headless = true, Args = ["--no-sandbox"] });
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { AcceptDownloads = true });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(30_000);

        await page.GotoAsync(new Uri(ca.CaAddress, "audit").ToString());
        await Shot(page, "01-login");
        await page.FillAsync("#token", "wrong-token");
        await page.ClickAsync("#login-submit");
        Assert.Contains("login failed", await page.InnerTextAsync("#login-error"), StringComparison.Ordinal);
        await page.FillAsync("#token", ca.Tokens["auditor"]);
        await page.ClickAsync("#login-submit");
        Assert.Equal("auditor", await page.InnerTextAsync("#account"));
        await Shot(page, "02-home");

        await page.FillAsync("#municipality", "352039");
        await page.SelectOptionAsync("#cause", "recordError");
        await page.ClickAsync("#search-submit");
        await Shot(page, "03-results");
        Assert.Contains(serial, await page.InnerTextAsync("#results"), StringComparison.Ordinal);

        // The export link carries the same filter and the session; its CSV lists the certificate.
        var csvHref = await page.GetAttributeAsync("#export-csv", "href");
        Assert.Contains("municipality=352039", csvHref, StringComparison.Ordinal);
        var csv = await context.APIRequest.GetAsync(new Uri(ca.CaAddress, csvHref!.TrimStart('/')).ToString());
        Assert.Equal(200, csv.Status);
        var rows = AuditTrailTests.ParseCsv(await csv.TextAsync());
        Assert.Contains(rows, r => r[0] == serial && r[3] == "352039" && r[6] == "recordError");

        await page.ClickAsync($"a.trail-link[href='/audit/certificates/{serial}']");
        await Shot(page, "04-trail");
        var trail = await page.InnerTextAsync("main");
        Assert.Contains(CaFixture.UbeOperator, await page.InnerTextAsync("table.issuance"), StringComparison.Ordinal);
        Assert.Contains("WIN00007U", await page.InnerTextAsync("table.issuance"), StringComparison.Ordinal);
        Assert.Contains("officer1", await page.InnerTextAsync("table.request"), StringComparison.Ordinal);
        // Encoded, shown as text, never run.
        Assert.Contains(Statement, await page.InnerTextAsync("table.request"), StringComparison.Ordinal);
        Assert.Equal(0, await page.Locator("script").CountAsync());
        Assert.Contains("未掲載 not yet listed", trail, StringComparison.Ordinal);

        await page.ClickAsync("#charts-link");
        await Shot(page, "05-charts");
        Assert.True(await page.Locator("svg#revocations-per-day rect.bar").CountAsync() >= 1);
        Assert.Equal(1, await page.Locator("svg#feed-lag").CountAsync());

        await page.GotoAsync(new Uri(ca.CaAddress, "audit/disclosure").ToString());
        await page.FillAsync("#residentCode", "12345678901");
        await page.ClickAsync("#disclosure-submit");
        Assert.Contains("check digit", await page.InnerTextAsync("#disclosure-error"), StringComparison.Ordinal);
        await page.FillAsync("#residentCode", code);
        await page.ClickAsync("#disclosure-submit");
        await Shot(page, "06-disclosure");
        Assert.Equal("1 件の閲覧 reads", await page.InnerTextAsync("#disclosure-count"));
        var disclosed = await page.InnerTextAsync("#disclosure");
        Assert.Contains(CaFixture.UbeOperator, disclosed, StringComparison.Ordinal);
        Assert.Contains("窓口確認 <b>window</b> check", disclosed, StringComparison.Ordinal);
        Assert.DoesNotContain(code, await page.ContentAsync(), StringComparison.Ordinal);

        await page.GotoAsync(new Uri(ca.CaAddress, "audit").ToString());
        await page.FillAsync("#activity-account", CaFixture.UbeOperator);
        await page.ClickAsync("#activity-submit");
        await Shot(page, "07-activity");
        Assert.Contains("窓口確認 <b>window</b> check", await page.InnerTextAsync("#activity-reads"), StringComparison.Ordinal);
        Assert.Contains(serial, await page.InnerTextAsync("#activity-acts"), StringComparison.Ordinal);

        await page.ClickAsync("#logout");
        Assert.Equal(1, await page.Locator("#login").CountAsync());
        await Shot(page, "08-logged-out");
    }

    [Fact]
    public async Task The_pages_refuse_other_roles_foreign_posts_and_anonymous_visitors()
    {
        var cookies = new CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = ca.CaAddress };

        // Anonymous: the login page, or a redirect to it.
        using (var home = await http.GetAsync(new Uri("audit", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.OK, home.StatusCode);
            Assert.Contains("id=\"login\"", await home.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var trail = await http.GetAsync(new Uri("audit/certificates/00aa", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Redirect, trail.StatusCode);
        }

        // An operator's or officer's token does not open the pages.
        foreach (var account in new[] { "operator", "officer1" })
        {
            using var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = ca.Tokens[account] });
            using var login = await http.PostAsync(new Uri("audit/login", UriKind.Relative), form);
            Assert.Equal(HttpStatusCode.Unauthorized, login.StatusCode);
            Assert.Empty(cookies.GetCookies(ca.CaAddress));
        }

        // A login posted from another site is refused before anything is checked.
        using (var request = new HttpRequestMessage(HttpMethod.Post, new Uri("audit/login", UriKind.Relative)))
        {
            request.Headers.Add("Origin", "http://evil.example");
            request.Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = ca.Tokens["auditor"] });
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        }

        // The auditor's password works too (a session like POST /api/v1/sessions makes); a wrong one does not.
        var password = File.ReadAllText(BuiltInAccounts.PasswordPath(ca.Home, "auditor")).Trim();
        using (var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["account"] = "auditor", ["password"] = password + "x" }))
        using (var login = await http.PostAsync(new Uri("audit/login", UriKind.Relative), form))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, login.StatusCode);
            Assert.Empty(cookies.GetCookies(ca.CaAddress));
        }

        using (var form = new FormUrlEncodedContent(new Dictionary<string, string> { ["account"] = "auditor", ["password"] = password }))
        using (var login = await http.PostAsync(new Uri("audit/login", UriKind.Relative), form))
        {
            Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        }

        using (var home = await http.GetAsync(new Uri("audit", UriKind.Relative)))
        {
            Assert.Contains("<span id=\"account\">auditor</span>", await home.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A bad search is an error page, nothing audited.

        var audited = ca.CountRows("SELECT COUNT(*) FROM audit_log");
        using (var bad = await http.GetAsync(new Uri("audit/revocations?from=2026-99-99", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("YYYY-MM-DD", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal("DENY", bad.Headers.GetValues("X-Frame-Options").Single());
        }

        Assert.Equal(audited, ca.CountRows("SELECT COUNT(*) FROM audit_log"));
    }

    private async Task Shot(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(screenshots, name + ".png"), FullPage = true });
}
