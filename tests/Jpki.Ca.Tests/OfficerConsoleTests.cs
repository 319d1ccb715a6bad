using System.Net;
using Jpki.Ca.Accounts;
using Jpki.Ca.OfficerConsole;
using Jpki.Core.Accounts;

namespace Jpki.Ca.Tests;

/// <summary>
/// The officer console over real HTTP on loopback (real SQLite store): every page as an officer
/// sees it, the refusal of every other credential, and the insider attacks on its approve form —
/// the requester approving, a second account of the same person, a post without the form token.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed partial class OfficerConsoleTests(CaFixture ca)
{
    public static readonly string[] Pages = ["console/accounts", "console/approvals", "console/switches", "console/feed", "console/issuers", "console/verifiers", "console/crls"];

    [Fact]
    public async Task Every_page_shows_an_officer_what_the_store_holds()
    {
        var operatorId = NewOperator("352047");
        var request = await RequestMunicipalitiesAsync("officer2", operatorId, "352047", "352063");
        var verifier = "console-verifier-" + Suffix();
        ca.AddAccount(new Account(verifier, AccountRole.Verifier, [], false));
        var certificate = SelfSigned("CN=console <verifier>");
        await ca.RequestAndApproveAsync(HttpMethod.Post, $"api/v1/accounts/{verifier}/client-certificates", new { certificatePem = certificate.Pem });
        var key = ActiveIssuerKey();
        using var console = new OfficerConsoleClient(ca.CaAddress);
        Assert.Equal(HttpStatusCode.Redirect, await console.LoginAsync(ca.Tokens["officer1"]));

        var (_, home, _) = await console.GetAsync("console");
        Assert.Contains("<h1>職員コンソール Officer console</h1>", home, StringComparison.Ordinal);
        Assert.Contains("<span id=\"account\">officer1</span>", home, StringComparison.Ordinal);
        var accounts = await PageAsync(console, "console/accounts");
        Assert.Contains($"<tr class=\"account\" id=\"account-{operatorId}\"><td><a href=\"/console/accounts/{operatorId}\">{operatorId}</a></td><td>窓口操作者 operator</td><td>352047 萩市</td><td>有効 enabled</td></tr>", accounts, StringComparison.Ordinal);
        Assert.Contains("<td><a href=\"/console/accounts/officer2\">officer2</a></td><td>職員 officer</td>", accounts, StringComparison.Ordinal);
        var approvals = await PageAsync(console, "console/approvals");
        Assert.Contains($"<tr class=\"request\" id=\"request-{request}\">", approvals, StringComparison.Ordinal);
        Assert.Contains("市区町村変更 change municipalities", approvals, StringComparison.Ordinal);
        Assert.Contains($"id=\"approve-{request}\"", approvals, StringComparison.Ordinal);
        var switches = await PageAsync(console, "console/switches");
        Assert.Contains("<tr class=\"switch\" id=\"switch-feed\"><td>住基ネット連携 feed</td>", switches, StringComparison.Ordinal);
        Assert.Contains("<tr class=\"switch\" id=\"switch-issuance\"><td>証明書発行 issuance</td>", switches, StringComparison.Ordinal);
        var feed = await PageAsync(console, "console/feed");
        Assert.Contains("<tr><th>カーソル Cursor</th><td>", feed, StringComparison.Ordinal);
        Assert.Contains("<th>無通信警報 Silence alarm</th>", feed, StringComparison.Ordinal);
        var issuers = await PageAsync(console, "console/issuers");
        Assert.Contains($"<tr class=\"key\" id=\"key-{key}\"><td>{key}</td>", issuers, StringComparison.Ordinal);
        Assert.Contains(" 日 days</td>", issuers, StringComparison.Ordinal);
        var verifiers = await PageAsync(console, "console/verifiers");
        Assert.True(verifiers.Contains($"<td><code>{certificate.Sha256}</code></td><td>CN=&quot;console &lt;verifier&gt;&quot;</td>", StringComparison.Ordinal), verifiers);

        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{request}/reject", "officer2")).Status);

        // A series the publisher would have made (the CA tests run no publisher).
        ca.ExecuteSql("INSERT INTO crl_series (issuer_key_id, scope, last_number, last_mark) VALUES (@key, 'm/352047', 4242, 0)", new { key });
        try
        {
            var crls = await PageAsync(console, "console/crls");
            Assert.True(crls.Contains($"<tr class=\"series\"><td>{key}</td><td>市区町村 352047 萩市</td><td>4242</td><td>—</td>", StringComparison.Ordinal), crls);
            Assert.Contains("<th>次の定期完全CRL Next scheduled complete CRL (JST)</th><td>", crls, StringComparison.Ordinal);
        }
        finally
        {
            ca.ExecuteSql("DELETE FROM crl_series WHERE issuer_key_id = @key AND scope = 'm/352047' AND last_number = 4242", new { key });
        }
    }

    [Fact]
    public async Task Every_other_credential_is_refused_on_every_page_and_action()
    {
        var operatorId = NewOperator("352047");
        var request = await RequestMunicipalitiesAsync("officer1", operatorId, "352047", "352071");
        string[] actions = [$"console/approvals/{request}/approve", $"console/approvals/{request}/reject", "console/switches/feed"];
        var sessions = new Dictionary<string, string>
        {
            ["auditor"] = SessionOf("auditor"),
            ["operator"] = SessionOf("operator"),
            ["verifier"] = SessionOf("verifier"),
            ["kiosk (an operator's POST /api/v1/sessions token)"] = await KioskSessionAsync(),
        };
        foreach (var (name, session) in sessions)
        {
            using var console = new OfficerConsoleClient(ca.CaAddress);
            console.UseSession(session);
            foreach (var page in Pages)
            {
                var (status, html, _) = await console.GetAsync(page);
                Assert.True(status == HttpStatusCode.Forbidden, $"{name} on {page}: {status}");
                Assert.Contains("職員のみ officers only", html, StringComparison.Ordinal);
            }

            foreach (var action in actions)
            {
                var (status, _, _) = await console.PostAsync(action, ConsoleForms.TokenFor(session), new() { ["stopped"] = "true", ["reason"] = "not an officer" });
                Assert.True(status == HttpStatusCode.Forbidden, $"{name} posting {action}: {status}");
            }
        }

        // No session: the login page (the access matrix tries the officer's bearer token there too).
        using (var anonymous = new OfficerConsoleClient(ca.CaAddress))
        {
            foreach (var path in Pages.Concat(actions))
            {
                var (status, _, location) = actions.Contains(path) ? await anonymous.PostAsync(path, null) : await anonymous.GetAsync(path);
                Assert.True(status == HttpStatusCode.Redirect && location == "/console", $"anonymous {path}: {status} {location}");
            }
        }

        // Only officers get a console session: another role's token logs in nowhere.
        foreach (var role in new[] { "auditor", "operator", "verifier" })
        {
            using var console = new OfficerConsoleClient(ca.CaAddress);
            Assert.Equal(HttpStatusCode.Unauthorized, await console.LoginAsync(ca.Tokens[role]));
            Assert.Null(console.Session);
        }

        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM approval_requests WHERE id = {request} AND state <> 'pending'"));
        Assert.Equal(0, ca.CountRows("SELECT COUNT(*) FROM kill_switches WHERE reason = 'not an officer'"));
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{request}/reject", "officer1")).Status);
    }

    [Fact]
    public async Task An_officer_cannot_approve_their_own_request_through_the_console()
    {
        var operatorId = NewOperator("352047");
        var request = await RequestMunicipalitiesAsync("officer1", operatorId, "352047", "352080");
        using var console = new OfficerConsoleClient(ca.CaAddress);
        await console.LoginAsync(ca.Tokens["officer1"]);

        var approvals = await PageAsync(console, "console/approvals");
        Assert.DoesNotContain($"id=\"approve-{request}\"", approvals, StringComparison.Ordinal);
        Assert.Contains($"id=\"reject-{request}\"", approvals, StringComparison.Ordinal);
        // The form is not shown; a forged post with a valid form token is refused by the API's rule.
        var (status, html, _) = await console.PostAsync($"console/approvals/{request}/approve", await console.CsrfOfAsync("console/approvals"));

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("urn:jpki:problem:approval-same-officer", html, StringComparison.Ordinal);
        Assert.Equal(["352047"], Municipalities(operatorId));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM approval_requests WHERE id = {request} AND state = 'pending'"));
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'approval.approved' AND details LIKE '%\"approval\":{request},%'"));
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{request}/reject", "officer1")).Status);
    }

    [Fact]
    public async Task A_second_account_of_the_requester_cannot_approve_through_the_console()
    {
        // officer1 asked for the twin's creation (officer2 approved): the rule calls them related.
        var twin = "console-twin-" + Suffix();
        var twinToken = ca.AddAccount(new Account(twin, AccountRole.Officer, [], false));
        ca.ExecuteSql(
            "INSERT INTO account_grants (account, action, requested_by, approved_by, time_us) VALUES (@twin, 'account.create', 'officer1', 'officer2', 0)",
            new { twin });
        try
        {
            var operatorId = NewOperator("352047");
            var request = await RequestMunicipalitiesAsync("officer1", operatorId, "352047", "352101");
            using var console = new OfficerConsoleClient(ca.CaAddress);
            Assert.Equal(HttpStatusCode.Redirect, await console.LoginAsync(twinToken));

            var (status, html, _) = await console.PostAsync($"console/approvals/{request}/approve", await console.CsrfOfAsync("console/approvals"));

            Assert.Equal(HttpStatusCode.Forbidden, status);
            Assert.Contains("urn:jpki:problem:approval-related-officers", html, StringComparison.Ordinal);
            Assert.Equal(["352047"], Municipalities(operatorId));
            Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM approval_requests WHERE id = {request} AND state = 'pending'"));
            Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{request}/reject", "officer1")).Status);
        }
        finally
        {
            // The fixture keeps its two officers.
            ca.ExecuteSql("UPDATE accounts SET disabled = 1 WHERE id = @twin", new { twin });
        }
    }

    [Fact]
    public async Task A_post_without_the_form_token_changes_nothing_and_one_with_it_approves_with_its_audit_record()
    {
        var operatorId = NewOperator("352047");
        var request = await RequestMunicipalitiesAsync("officer1", operatorId, "352047", "352152");
        using var other = new OfficerConsoleClient(ca.CaAddress);
        await other.LoginAsync(ca.Tokens["officer1"]);
        var othersToken = await other.CsrfOfAsync("console/approvals");
        using var console = new OfficerConsoleClient(ca.CaAddress);
        await console.LoginAsync(ca.Tokens["officer2"]);
        var token = await console.CsrfOfAsync("console/approvals");
        var path = $"console/approvals/{request}/approve";

        foreach (var (csrf, origin) in new (string?, string?)[] { (null, null), ("", null), ("00" + token[2..], null), (othersToken, null), (token, "http://evil.example") })
        {
            var (status, html, _) = await console.PostAsync(path, csrf, origin: origin);
            Assert.True(status == HttpStatusCode.Forbidden, $"csrf {csrf} origin {origin}: {status}");
            Assert.Contains("class=\"error\"", html, StringComparison.Ordinal);
        }

        Assert.Equal(["352047"], Municipalities(operatorId));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM approval_requests WHERE id = {request} AND state = 'pending'"));

        var (approved, _, location) = await console.PostAsync(path, token);
        Assert.Equal(HttpStatusCode.SeeOther, approved);
        Assert.Equal($"/console/approvals?approved={request}", location);
        Assert.Contains($"申請 {request} を承認しました request {request} approved", await PageAsync(console, location!.TrimStart('/')), StringComparison.Ordinal);
        Assert.Equal(["352047", "352152"], Municipalities(operatorId));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM approval_requests WHERE id = {request} AND state = 'approved' AND decided_by = 'officer2'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'approval.approved' AND actor = 'officer2' AND details LIKE '%\"approval\":{request},%'"));
    }

    [Fact]
    public async Task An_officer_pulls_a_kill_switch_and_its_release_waits_for_another_officer()
    {
        using var console = new OfficerConsoleClient(ca.CaAddress);
        await console.LoginAsync(ca.Tokens["officer1"]);
        var token = await console.CsrfOfAsync("console/switches");
        var (invalid, invalidPage, _) = await console.PostAsync("console/switches/issuance", token, new() { ["stopped"] = "true", ["reason"] = "x" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, invalid);
        Assert.Contains("<a href=\"/console/switches\" id=\"back\">", invalidPage, StringComparison.Ordinal);
        Assert.Equal(0, ca.CountRows("SELECT COUNT(*) FROM kill_switches WHERE name = 'issuance' AND stopped = 1"));
        var (stopped, _, location) = await console.PostAsync("console/switches/issuance", token, new() { ["stopped"] = "true", ["reason"] = "console <drill>" });
        Assert.Equal(HttpStatusCode.SeeOther, stopped);
        Assert.Equal("/console/switches?stopped=issuance", location);
        try
        {
            var page = await PageAsync(console, "console/switches");
            Assert.True(page.Contains("<td class=\"alarm\">停止中 stopped</td><td>officer1</td><td>console &lt;drill&gt;</td>", StringComparison.Ordinal), page);
            Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'switch.stopped' AND actor = 'officer1' AND details LIKE '%console <drill>%'"));

            var (released, _, releaseLocation) = await console.PostAsync("console/switches/issuance", token, new() { ["stopped"] = "false", ["reason"] = "drill over" });
            Assert.Equal(HttpStatusCode.SeeOther, released);
            Assert.StartsWith("/console/switches?requested=", releaseLocation, StringComparison.Ordinal);
            Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM kill_switches WHERE name = 'issuance' AND stopped = 1"));
            var release = long.Parse(releaseLocation!["/console/switches?requested=".Length..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Contains($"申請 {release} 承認待ち request {release} pending", await PageAsync(console, "console/switches"), StringComparison.Ordinal);

            using var second = new OfficerConsoleClient(ca.CaAddress);
            await second.LoginAsync(ca.Tokens["officer2"]);
            var (approved, _, _) = await second.PostAsync($"console/approvals/{release}/approve", await second.CsrfOfAsync("console/approvals"));
            Assert.Equal(HttpStatusCode.SeeOther, approved);
            Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM kill_switches WHERE name = 'issuance' AND stopped = 0"));

            // The history keeps both decisions (the switch row only the latest), read from the audit log.
            var history = await PageAsync(console, "console/switches");
            Assert.Contains("<td>証明書発行 issuance</td><td>解除 released</td><td>officer2</td><td>officer1</td><td>officer2</td><td>drill over</td></tr>", history, StringComparison.Ordinal);
            Assert.Matches("<td>証明書発行 issuance</td><td>停止 stopped</td><td>officer1</td><td>[^<]+</td><td>[^<]+</td><td>console &lt;drill&gt;</td></tr>", history);
            Assert.True(
                history.IndexOf("<td>drill over</td>", StringComparison.Ordinal) < history.IndexOf("<td>console &lt;drill&gt;</td></tr>", StringComparison.Ordinal),
                "newest decision first");
        }
        finally
        {
            if (ca.CountRows("SELECT COUNT(*) FROM kill_switches WHERE name = 'issuance' AND stopped = 1") == 1)
            {
                await ca.ReleaseSwitchAsync("issuance", "console test cleanup");
            }
        }
    }

    /// <summary>
    /// An insider who copied a session cookie (a shared terminal, a proxy log) keeps nothing once its
    /// owner logs out: the logout ends the session in the store, for the console and the auditor
    /// pages alike, and audits it.
    /// </summary>
    [Theory]
    [InlineData("console", "jpki-console", "officer1")]
    [InlineData("audit", "jpki-audit", "auditor")]
    public async Task A_cookie_copied_before_the_logout_no_longer_opens_the_pages(string area, string cookie, string account)
    {
        var jar = new System.Net.CookieContainer();
        using var owner = new HttpClient(new HttpClientHandler { CookieContainer = jar, AllowAutoRedirect = false }) { BaseAddress = ca.CaAddress };
        using (var login = await owner.PostAsync(new Uri($"{area}/login", UriKind.Relative), new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = ca.Tokens[account] })))
        {
            Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        }

        var copied = jar.GetCookies(new Uri(ca.CaAddress, area + "/")).Single(c => c.Name == cookie).Value;
        var endedBefore = ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'session.ended' AND actor = '{account}'");
        using var insider = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = ca.CaAddress };
        async Task<HttpResponseMessage> WithCopyAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(area, UriKind.Relative));
            request.Headers.Add("Cookie", $"{cookie}={copied}");
            return await insider.SendAsync(request);
        }

        using (var before = await WithCopyAsync())
        {
            var html = await before.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
            Assert.Contains("id=\"logout\"", html, StringComparison.Ordinal);
        }

        using (var logout = await owner.PostAsync(new Uri($"{area}/logout", UriKind.Relative), new FormUrlEncodedContent([])))
        {
            Assert.Equal(HttpStatusCode.Redirect, logout.StatusCode);
        }

        using (var after = await WithCopyAsync())
        {
            var html = await after.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, after.StatusCode);
            Assert.Contains("id=\"login\"", html, StringComparison.Ordinal);
            Assert.DoesNotContain("id=\"logout\"", html, StringComparison.Ordinal);
        }

        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM sessions WHERE token_sha256 = '{AccountStore.TokenHash(copied)}'"));
        Assert.Equal(endedBefore + 1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'session.ended' AND actor = '{account}' AND subject = '{account}'"));
    }

    private static async Task<string> PageAsync(OfficerConsoleClient console, string path)
    {
        var (status, html, location) = await console.GetAsync(path);
        Assert.True(status == HttpStatusCode.OK, $"{path}: {status} {location}");
        Assert.DoesNotContain("&#x", html, StringComparison.Ordinal);
        return html;
    }

    private string NewOperator(string code)
    {
        var id = "console-op-" + Suffix();
        ca.AddAccount(new Account(id, AccountRole.Operator, [code], false));
        return id;
    }

    private async Task<long> RequestMunicipalitiesAsync(string officer, string account, params string[] codes)
    {
        var (status, body, _) = await ca.SendAsync(HttpMethod.Put, $"api/v1/accounts/{account}/municipalities", officer, new { municipalityCodes = codes });
        Assert.True(status == 202, body.ToString());
        return body.GetProperty("approval").GetProperty("id").GetInt64();
    }

    private List<string> Municipalities(string account)
    {
        using var database = new Jpki.Core.Store.Database("Data Source=" + ca.DatabasePath, TimeProvider.System);
        using var db = database.OpenConnection();
        return [.. AccountStore.Find(db, account)!.MunicipalityCodes.Order(StringComparer.Ordinal)];
    }

    /// <summary>A live session of a built-in account, made in the store (what a password login gives).</summary>
    private string SessionOf(string account)
    {
        var session = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        ca.ExecuteSql(
            "INSERT INTO sessions (token_sha256, account, expires_us, created_us) VALUES (@session, @account, @expires, @expires)",
            new { session = AccountStore.TokenHash(session), account, expires = Jpki.Core.Store.Instant.ToMicros(DateTimeOffset.UtcNow.AddHours(1)) });
        return session;
    }

    /// <summary>What the kiosk holds for its operator: a session token of <c>POST /api/v1/sessions</c> with the operator's password.</summary>
    private async Task<string> KioskSessionAsync()
    {
        var password = File.ReadAllText(BuiltInAccounts.PasswordPath(ca.Home, "operator")).Trim();
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/sessions", null, new { account = "operator", password });
        Assert.True(status == 201, body.ToString());
        return body.GetProperty("token").GetString()!;
    }

    private string ActiveIssuerKey()
    {
        using var database = new Jpki.Core.Store.Database("Data Source=" + ca.DatabasePath, TimeProvider.System);
        using var db = database.OpenConnection();
        return Jpki.Core.Issuers.IssuerStore.ListIssuers(db)
            .SelectMany(issuer => Jpki.Core.Issuers.IssuerStore.ListKeys(db, issuer.Id))
            .First(k => k.State == "active" && k.CertificateDer is not null).Id;
    }

    private static (string Pem, string Sha256) SelfSigned(string subject)
    {
        using var key = System.Security.Cryptography.ECDsa.Create();
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest(subject, key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
        return (certificate.ExportCertificatePem(), ClientCertificateStore.Fingerprint(certificate.RawData));
    }

    private static string Suffix() => Guid.NewGuid().ToString("N")[..8];
}
