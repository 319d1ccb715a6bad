using System.Net;
using System.Text.RegularExpressions;
using Jpki.Ca.OfficerConsole;
using Jpki.Core.Accounts;

namespace Jpki.Ca.Tests;

/// <summary>
/// The console's activation page (<c>/console/activation</c>) over real HTTP on loopback: a new
/// auditor, requested by one officer and approved by another in the console, activates with the two
/// halves through the API's method; the insider attacks (the requesting officer alone or from their
/// session, another role's session, forged posts, a replay) are refused and change nothing.
/// </summary>
public sealed partial class OfficerConsoleTests
{
    [Fact]
    public async Task A_new_auditor_activates_in_the_console_with_both_halves_once_and_nobody_else_can()
    {
        var id = "console-activate-" + Suffix();
        var (part1, part2) = await RequestAndApproveAuditorAsync(id);

        // The requesting officer, logged in: the page and the post are refused to any console
        // session, even with the session's own form token and both halves.
        using var requester = new OfficerConsoleClient(ca.CaAddress);
        await requester.LoginAsync(ca.Tokens["officer1"]);
        Assert.Equal(HttpStatusCode.Forbidden, (await requester.GetAsync("console/activation")).Status);
        var sessionToken = await requester.CsrfOfAsync("console/accounts");
        var (fromSession, fromSessionPage, _) = await requester.PostAsync("console/activation", sessionToken, Fields(id, part1, part2));
        Assert.True(fromSession == HttpStatusCode.Forbidden, fromSessionPage);
        Assert.Contains("log out first", fromSessionPage, StringComparison.Ordinal);

        // Another role's session in the console cookie: refused the same way.
        using var otherRole = new OfficerConsoleClient(ca.CaAddress);
        otherRole.UseSession(SessionOf("auditor"));
        Assert.Equal(HttpStatusCode.Forbidden, (await otherRole.GetAsync("console/activation")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await otherRole.PostAsync("console/activation", ConsoleForms.TokenFor("x"), Fields(id, part1, part2))).Status);

        // Forged posts at a browser without a session: no token, another browser's token, a
        // session's form token, another origin.
        using var holder = new OfficerConsoleClient(ca.CaAddress);
        var token = await holder.CsrfOfAsync("console/activation");
        using var elsewhere = new OfficerConsoleClient(ca.CaAddress);
        var foreign = await elsewhere.CsrfOfAsync("console/activation");
        Assert.NotEqual(token, foreign);
        foreach (var (csrf, origin) in new (string?, string?)[] { (null, null), (foreign, null), (sessionToken, null), (token, "http://evil.example") })
        {
            var (status, html, _) = await holder.PostAsync("console/activation", csrf, Fields(id, part1, part2), origin);
            Assert.True(status == HttpStatusCode.Forbidden, $"{csrf} {origin}: {status} {html}");
        }

        // The requesting officer alone, at a browser without a session: their half and a guess.
        var (alone, alonePage, _) = await elsewhere.PostAsync("console/activation", foreign, Fields(id, part1, part1));
        Assert.True(alone == HttpStatusCode.Forbidden, alonePage);
        Assert.Contains("urn:jpki:problem:activation-failed", alonePage, StringComparison.Ordinal);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{id}' AND disabled = 1 AND activation_sha256 IS NOT NULL"));
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.activated' AND subject = '{id}'"));

        // The holder with both halves: the credentials once, the API's record, a token that works.
        var (activated, page, _) = await holder.PostAsync("console/activation", token, Fields(id, part1, part2));
        Assert.True(activated == HttpStatusCode.OK, page);
        Assert.Contains($"{id} を有効にしました {id} activated", page, StringComparison.Ordinal);
        var apiToken = Regex.Match(page, "<th>APIトークン API token</th><td>([0-9a-f]{64})</td>").Groups[1].Value;
        var password = WebUtility.HtmlDecode(Regex.Match(page, "<th>パスワード Password</th><td>([^<]{8,})</td>").Groups[1].Value);
        Assert.True(password.Length >= 8, page);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{id}' AND disabled = 0 AND activation_sha256 IS NULL AND token_sha256 = '{AccountStore.TokenHash(apiToken)}'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.activated' AND actor = '{id}' AND subject = '{id}'"));
        var (me, meBody, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/accounts/me", apiToken);
        Assert.True(me == 200, meBody.ToString());
        Assert.Equal("auditor", meBody.GetProperty("role").GetString());

        // The same post again (a replay, the back button): the code is used; the credentials stay.
        var (replayed, replayPage, _) = await holder.PostAsync("console/activation", token, Fields(id, part1, part2));
        Assert.True(replayed == HttpStatusCode.Forbidden, replayPage);
        Assert.Contains("urn:jpki:problem:activation-failed", replayPage, StringComparison.Ordinal);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{id}' AND token_sha256 = '{AccountStore.TokenHash(apiToken)}'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.activated' AND subject = '{id}'"));

        // The password shown logs in (a password login also clears this address's wrong-code
        // count, which the shared fixture's other activation tests share).
        var (login, session, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/sessions", null, new { account = id, password });
        Assert.True(login == 201, session.ToString());

        // Leave the shared fixture's enabled accounts as they were.
        ca.ExecuteSql("UPDATE accounts SET disabled = 1 WHERE id = @id", new { id });
    }

    [Fact]
    public async Task The_activation_page_is_linked_from_the_login_and_says_what_to_enter()
    {
        using var browser = new OfficerConsoleClient(ca.CaAddress);
        var login = await PageAsync(browser, "console");
        Assert.Contains("<a href=\"/console/activation\" id=\"activation-link\">", login, StringComparison.Ordinal);
        var (status, page, _) = await browser.GetAsync("console/activation");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("<form method=\"post\" action=\"/console/activation\" id=\"activation\">", page, StringComparison.Ordinal);
        Assert.Contains("name=\"part1\"", page, StringComparison.Ordinal);
        Assert.Contains("name=\"part2\"", page, StringComparison.Ordinal);
        Assert.Contains("有効化 Activate", page, StringComparison.Ordinal);

        // Nothing entered: the API's own refusal, on the form again.
        var token = await browser.CsrfOfAsync("console/activation");
        var (empty, emptyPage, _) = await browser.PostAsync("console/activation", token, new() { ["account"] = "nobody" });
        Assert.True(empty == HttpStatusCode.BadRequest, emptyPage);
        Assert.Contains("activationCode is required", emptyPage, StringComparison.Ordinal);
        Assert.Contains("id=\"activation\"", emptyPage, StringComparison.Ordinal);
    }

    private static Dictionary<string, string> Fields(string id, string part1, string part2) =>
        new() { ["account"] = id, ["part1"] = part1, ["part2"] = part2 };

    /// <summary>An auditor requested by officer1 and approved by officer2, both in the console: the two halves their answer pages showed.</summary>
    private async Task<(string Part1, string Part2)> RequestAndApproveAuditorAsync(string id)
    {
        using var first = new OfficerConsoleClient(ca.CaAddress);
        await first.LoginAsync(ca.Tokens["officer1"]);
        var (_, requested, _) = await first.PostAsync("console/accounts", await first.CsrfOfAsync("console/accounts"), new() { ["id"] = id, ["role"] = "auditor" });
        var part1 = Regex.Match(requested, "<th>有効化コード前半 Activation code, first half</th><td>([^<]{6,})</td>").Groups[1].Value;
        Assert.True(part1.Length > 0, requested);
        Assert.Contains("/console/activation", requested, StringComparison.Ordinal);
        var request = ca.CountRows($"SELECT id FROM approval_requests WHERE action = 'account.create' AND subject = '{id}' AND state = 'pending'");
        using var second = new OfficerConsoleClient(ca.CaAddress);
        await second.LoginAsync(ca.Tokens["officer2"]);
        var (_, approved, _) = await second.PostAsync($"console/approvals/{request}/approve", await second.CsrfOfAsync("console/approvals"));
        var part2 = Regex.Match(approved, "<th>有効化コード後半 Activation code, second half</th><td>([^<]{6,})</td>").Groups[1].Value;
        Assert.True(part2.Length > 0, approved);
        return (part1, part2);
    }
}
