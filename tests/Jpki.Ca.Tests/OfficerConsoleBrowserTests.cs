using Jpki.Core.Accounts;
using Microsoft.Playwright;

namespace Jpki.Ca.Tests;

/// <summary>
/// The officer console in a real browser (Debian's chromium driven by Playwright): an officer logs
/// in with their token, approves a colleague's dual-control request, opens every page, and creates
/// and disables an operator through the forms. A
/// screenshot of every page is kept under screenshots/officer-console/ in the test output and
/// copied to docs/officer-console-screenshots/ of the source tree (issue 21: the docs show the
/// pages as the tests last saw them).
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class OfficerConsoleBrowserTests(CaFixture ca)
{
    private const string ChromiumPath = "/usr/bin/chromium";

    private readonly string screenshots = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "screenshots", "officer-console")).FullName;

    private readonly string? docsScreenshots = FindDocs();

    [Fact]
    public async Task An_officer_logs_in_and_approves_a_colleagues_request_in_a_browser()
    {
        Assert.True(File.Exists(ChromiumPath), "Debian's chromium is needed (apt-get install chromium); ./jpki test installs it");
        var operatorId = "console-browser-" + Guid.NewGuid().ToString("N")[..6];
        ca.AddAccount(new Account(operatorId, AccountRole.Operator, ["352039"], false));
        var (status, asked, _) = await ca.SendAsync(HttpMethod.Put, $"api/v1/accounts/{operatorId}/municipalities", "officer2", new { municipalityCodes = new[] { "352039", "352021" } });
        Assert.True(status == 202, asked.ToString());
        var request = asked.GetProperty("approval").GetProperty("id").GetInt64();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ChromiumPath, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        page.SetDefaultTimeout(30_000);

        await page.GotoAsync(new Uri(ca.CaAddress, "console").ToString());
        await Shot(page, "01-login");
        await page.FillAsync("#token", "wrong-token");
        await page.ClickAsync("#login-submit");
        Assert.Contains("login failed", await page.InnerTextAsync("#login-error"), StringComparison.Ordinal);
        await page.FillAsync("#token", ca.Tokens["officer1"]);
        await page.ClickAsync("#login-submit");
        Assert.Equal("officer1", await page.InnerTextAsync("#account"));
        await Shot(page, "02-home");

        await page.ClickAsync("#approvals-link");
        Assert.Contains("officer2", await page.InnerTextAsync($"#request-{request}"), StringComparison.Ordinal);
        await Shot(page, "03-approvals");
        await page.ClickAsync($"#approve-{request}");
        Assert.Equal($"申請 {request} を承認しました request {request} approved", await page.InnerTextAsync("#done"));
        Assert.Equal(0, await page.Locator($"#request-{request}").CountAsync());
        await Shot(page, "04-approved");
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM approval_requests WHERE id = {request} AND state = 'approved' AND decided_by = 'officer1'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'approval.approved' AND actor = 'officer1' AND details LIKE '%\"approval\":{request},%'"));

        var n = 5;
        foreach (var (link, name, expected) in new[]
        {
            ("#accounts-link", "accounts", "352021 下関市"),
            ("#switches-link", "switches", "住基ネット連携 feed"),
            ("#feed-link", "feed", "カーソル Cursor"),
            ("#issuers-link", "issuers", "世代 Generation"),
            ("#verifiers-link", "verifiers", "クライアント証明書 Client certificate"),
            ("#crls-link", "crls", "次の差分CRL Next delta CRL"),
        })
        {
            await page.ClickAsync(link);
            Assert.Contains(expected, await page.InnerTextAsync("main"), StringComparison.Ordinal);
            await Shot(page, $"{n++:00}-{name}");
        }

        // An account made and changed through the forms (the API's methods behind them).
        var created = "console-browser-new-" + Guid.NewGuid().ToString("N")[..6];
        await page.ClickAsync("#accounts-link");
        await page.FillAsync("#create-id", created);
        await page.SelectOptionAsync("#create-role", "operator");
        await page.CheckAsync("#create-m-352012");
        await page.ClickAsync("#create-submit");
        Assert.Equal($"{created} を作成しました {created} created", await page.InnerTextAsync("#done"));
        await Shot(page, $"{n++:00}-account-created");
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.created' AND actor = 'officer1' AND subject = '{created}'"));
        await page.GotoAsync(new Uri(ca.CaAddress, $"console/accounts/{created}").ToString());
        await page.ClickAsync("#state-submit");
        Assert.Equal("無効にしました disabled", await page.InnerTextAsync("#done"));
        await Shot(page, $"{n++:00}-account");
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{created}' AND disabled = 1"));

        Assert.Equal(0, await page.Locator("script").CountAsync());
        await page.ClickAsync("#logout");
        Assert.Equal(1, await page.Locator("#login").CountAsync());

        // Logged out, the login page leads a new account's holder to the activation form.
        await page.ClickAsync("#activation-link");
        Assert.Contains("有効化コード後半 Activation code, second half", await page.InnerTextAsync("#activation"), StringComparison.Ordinal);
        await Shot(page, $"{n++:00}-activation");
    }

    private async Task Shot(IPage page, string name)
    {
        var path = Path.Combine(screenshots, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        if (docsScreenshots is not null)
        {
            File.Copy(path, Path.Combine(docsScreenshots, name + ".png"), overwrite: true);
        }
    }

    /// <summary>docs/officer-console-screenshots/ of the source tree the test was built from, or null when the output is not inside one.</summary>
    private static string? FindDocs()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "JPKI.sln")))
            {
                return Directory.CreateDirectory(Path.Combine(directory.FullName, "docs", "officer-console-screenshots")).FullName;
            }
        }

        return null;
    }
}
