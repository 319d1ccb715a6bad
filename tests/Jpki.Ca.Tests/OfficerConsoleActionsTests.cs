using System.Net;
using Jpki.Ca.OfficerConsole;
using Jpki.Core.Accounts;

namespace Jpki.Ca.Tests;

/// <summary>
/// The console's actions beyond approvals and switches (accounts, roles and municipalities, client
/// certificates, feed gaps, issuer-key compromise), over real HTTP on loopback with the real store:
/// each changes what the JSON API's method changes and writes its audit record; the insider
/// attacks (own account, forged posts, other roles) and bad input change nothing.
/// </summary>
public sealed partial class OfficerConsoleTests
{
    [Fact]
    public async Task An_officer_creates_accounts_and_changes_role_municipalities_and_state_through_the_console()
    {
        using var console = new OfficerConsoleClient(ca.CaAddress);
        await console.LoginAsync(ca.Tokens["officer1"]);
        var token = await console.CsrfOfAsync("console/accounts");

        // An operator: at once, its first credentials shown once to the officer.
        var operatorId = "console-new-op-" + Suffix();
        var (created, createdPage, _) = await console.PostAsync("console/accounts", token, new() { ["id"] = operatorId, ["role"] = "operator", ["municipality"] = "352047" });
        Assert.True(created == HttpStatusCode.OK, createdPage);
        Assert.Contains($"{operatorId} を作成しました {operatorId} created", createdPage, StringComparison.Ordinal);
        Assert.Matches("<th>APIトークン API token</th><td>[0-9a-f]{64}</td>", createdPage);
        Assert.Contains("<th>市区町村 Municipalities</th><td>352047</td>", createdPage, StringComparison.Ordinal);
        Assert.Equal(["352047"], Municipalities(operatorId));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.created' AND actor = 'officer1' AND subject = '{operatorId}'"));

        // An officer: a dual-control request; the requester gets the first half of the activation
        // code, the approver (through the console too) the second.
        var officerId = "console-new-officer-" + Suffix();
        var (requested, requestedPage, _) = await console.PostAsync("console/accounts", token, new() { ["id"] = officerId, ["role"] = "officer" });
        Assert.True(requested == HttpStatusCode.OK, requestedPage);
        Assert.Matches("<th>有効化コード前半 Activation code, first half</th><td>[^<]{6,}</td>", requestedPage);
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{officerId}'"));
        var creation = ca.CountRows($"SELECT id FROM approval_requests WHERE action = 'account.create' AND subject = '{officerId}' AND state = 'pending' AND requested_by = 'officer1'");
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'approval.requested' AND actor = 'officer1' AND subject = '{officerId}'"));
        using var second = new OfficerConsoleClient(ca.CaAddress);
        await second.LoginAsync(ca.Tokens["officer2"]);
        var secondToken = await second.CsrfOfAsync("console/approvals");
        var (approved, approvedPage, _) = await second.PostAsync($"console/approvals/{creation}/approve", secondToken);
        Assert.True(approved == HttpStatusCode.OK, approvedPage);
        Assert.Matches("<th>有効化コード後半 Activation code, second half</th><td>[^<]{6,}</td>", approvedPage);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{officerId}' AND role = 'officer' AND disabled = 1"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.created' AND actor = 'officer2' AND subject = '{officerId}'"));

        // The operator's page: its forms; a role change and a municipality change wait for officer2.
        var page = await PageAsync(console, $"console/accounts/{operatorId}");
        Assert.Contains("id=\"role-form\"", page, StringComparison.Ordinal);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(page, "<input type=\"checkbox\" name=\"municipality\" value=\"352047\" id=\"bind-m-352047\" checked[^>]*>"), page);
        Assert.Matches("<input type=\"checkbox\" name=\"municipality\" value=\"352063\" id=\"bind-m-352063\"\\s*/?>", page);
        var (bind, _, bindLocation) = await console.PostAsync($"console/accounts/{operatorId}/municipalities", token, new() { ["municipality"] = "352063" });
        Assert.Equal(HttpStatusCode.SeeOther, bind);
        Assert.StartsWith($"/console/accounts/{operatorId}?requested=", bindLocation, StringComparison.Ordinal);
        Assert.Contains("別の職員の承認が必要です", await PageAsync(console, bindLocation!.TrimStart('/')), StringComparison.Ordinal);
        Assert.Equal(["352047"], Municipalities(operatorId));
        var bindRequest = IdIn(bindLocation);
        Assert.Equal(HttpStatusCode.SeeOther, (await second.PostAsync($"console/approvals/{bindRequest}/approve", secondToken)).Status);
        Assert.Equal(["352063"], Municipalities(operatorId));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.bound' AND actor = 'officer2' AND subject = '{operatorId}'"));

        var (role, _, roleLocation) = await console.PostAsync($"console/accounts/{operatorId}/role", token, new() { ["role"] = "verifier" });
        Assert.Equal(HttpStatusCode.SeeOther, role);
        var roleRequest = IdIn(roleLocation);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM approval_requests WHERE id = {roleRequest} AND action = 'account.role' AND state = 'pending' AND payload LIKE '%verifier%'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{operatorId}' AND role = 'operator'"));
        Assert.Equal(HttpStatusCode.SeeOther, (await second.PostAsync($"console/approvals/{roleRequest}/approve", secondToken)).Status);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{operatorId}' AND role = 'verifier'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.role-changed' AND actor = 'officer2' AND subject = '{operatorId}'"));

        // A verifier is disabled and enabled by one officer, at once.
        var (disabled, _, disabledLocation) = await console.PostAsync($"console/accounts/{operatorId}/disable", token);
        Assert.Equal(HttpStatusCode.SeeOther, disabled);
        Assert.Contains("無効にしました disabled", await PageAsync(console, disabledLocation!.TrimStart('/')), StringComparison.Ordinal);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{operatorId}' AND disabled = 1"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.disabled' AND actor = 'officer1' AND subject = '{operatorId}'"));
        Assert.Equal(HttpStatusCode.SeeOther, (await console.PostAsync($"console/accounts/{operatorId}/enable", token)).Status);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{operatorId}' AND disabled = 0"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.enabled' AND actor = 'officer1' AND subject = '{operatorId}'"));
    }

    [Fact]
    public async Task An_officer_cannot_change_their_own_account_through_the_console()
    {
        using var console = new OfficerConsoleClient(ca.CaAddress);
        await console.LoginAsync(ca.Tokens["officer1"]);
        var page = await PageAsync(console, "console/accounts/officer1");
        Assert.Contains("id=\"own-account\"", page, StringComparison.Ordinal);
        Assert.DoesNotContain("id=\"role-form\"", page, StringComparison.Ordinal);
        var token = await console.CsrfOfAsync("console/accounts");
        var requestsBefore = ca.CountRows("SELECT COUNT(*) FROM approval_requests WHERE subject = 'officer1'");

        // The forms are not shown; forged posts with a valid token meet the API's rule.
        foreach (var (action, fields) in new (string, Dictionary<string, string>)[]
        {
            ("role", new() { ["role"] = "auditor" }),
            ("municipalities", []),
            ("disable", []),
        })
        {
            var (status, html, _) = await console.PostAsync($"console/accounts/officer1/{action}", token, fields);
            Assert.True(status == HttpStatusCode.Forbidden, $"{action}: {status} {html}");
            Assert.Contains("urn:jpki:problem:approval-own-account", html, StringComparison.Ordinal);
        }

        Assert.Equal(requestsBefore, ca.CountRows("SELECT COUNT(*) FROM approval_requests WHERE subject = 'officer1'"));
        Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM accounts WHERE id = 'officer1' AND role = 'officer' AND disabled = 0"));
    }

    [Fact]
    public async Task A_verifiers_client_certificate_is_registered_with_a_second_officer_and_removed_through_the_console()
    {
        var verifier = "console-cert-" + Suffix();
        ca.AddAccount(new Account(verifier, AccountRole.Verifier, [], false));
        using var console = new OfficerConsoleClient(ca.CaAddress);
        await console.LoginAsync(ca.Tokens["officer1"]);
        var token = await console.CsrfOfAsync($"console/accounts/{verifier}");

        // A DER file, as a browser uploads it.
        using var key = System.Security.Cryptography.ECDsa.Create();
        using var certificate = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=console der", key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(30));
        var sha256 = ClientCertificateStore.Fingerprint(certificate.RawData);
        var (requested, _, location) = await console.PostFileAsync($"console/accounts/{verifier}/client-certificates", token, "certificateFile", certificate.RawData);
        Assert.Equal(HttpStatusCode.SeeOther, requested);
        var request = IdIn(location);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM approval_requests WHERE id = {request} AND action = 'verifier.client-certificate' AND subject = '{verifier}' AND state = 'pending'"));
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM verifier_client_certificates WHERE sha256 = '{sha256}'"));

        using var second = new OfficerConsoleClient(ca.CaAddress);
        await second.LoginAsync(ca.Tokens["officer2"]);
        Assert.Equal(HttpStatusCode.SeeOther, (await second.PostAsync($"console/approvals/{request}/approve", await second.CsrfOfAsync("console/approvals"))).Status);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM verifier_client_certificates WHERE sha256 = '{sha256}' AND account = '{verifier}'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.client-certificate-registered' AND actor = 'officer2' AND subject = '{verifier}' AND details LIKE '%{sha256}%'"));
        var page = await PageAsync(console, $"console/accounts/{verifier}");
        Assert.Contains($"<tr class=\"client-certificate\" id=\"certificate-{sha256}\"><td><code>{sha256}</code></td><td>CN=console der</td>", page, StringComparison.Ordinal);

        // A pasted PEM is a request too (rejected here).
        var (pasted, _, pastedLocation) = await console.PostAsync($"console/accounts/{verifier}/client-certificates", token, new() { ["certificatePem"] = SelfSigned("CN=console pem").Pem });
        Assert.Equal(HttpStatusCode.SeeOther, pasted);
        var pastedRequest = IdIn(pastedLocation);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM approval_requests WHERE id = {pastedRequest} AND state = 'pending'"));
        Assert.Equal(HttpStatusCode.SeeOther, (await console.PostAsync($"console/approvals/{pastedRequest}/reject", token)).Status);

        // Removing takes access away: one officer, at once.
        var (removed, _, removedLocation) = await console.PostAsync($"console/accounts/{verifier}/client-certificates/{sha256}/remove", token);
        Assert.Equal(HttpStatusCode.SeeOther, removed);
        Assert.Contains($"クライアント証明書 {sha256} を削除しました", await PageAsync(console, removedLocation!.TrimStart('/')), StringComparison.Ordinal);
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM verifier_client_certificates WHERE sha256 = '{sha256}'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.client-certificate-removed' AND actor = 'officer1' AND subject = '{verifier}' AND details LIKE '%{sha256}%'"));
    }

    [Fact]
    public async Task An_officer_closes_a_feed_gap_and_requests_an_issuer_key_compromise_through_the_console()
    {
        var (first, gap) = OpenGap(8_100_000_000L);
        using var console = new OfficerConsoleClient(ca.CaAddress);
        await console.LoginAsync(ca.Tokens["officer1"]);
        var token = await console.CsrfOfAsync("console/feed");
        try
        {
            await CloseGapThroughTheConsoleAsync(console, token, first, gap);
        }
        finally
        {
            CloseGap(gap);
        }


        // The compromise: officer1 asks; the same officer's approval is refused by the API's rule.
        await RequestCompromiseThroughTheConsoleAsync(console, token);
    }

    private async Task CloseGapThroughTheConsoleAsync(OfficerConsoleClient console, string token, long first, long gap)
    {
        Assert.Contains($"id=\"close-form-{gap}\"", await PageAsync(console, "console/feed"), StringComparison.Ordinal);

        var (closed, _, location) = await console.PostAsync($"console/feed/gaps/{gap}/close", token, new() { ["reason"] = "Juki-Net: never issued <console>" });
        Assert.Equal(HttpStatusCode.SeeOther, closed);
        var feed = await PageAsync(console, location!.TrimStart('/'));
        Assert.Contains($"欠番 {gap} を解決にしました gap {gap} closed", feed, StringComparison.Ordinal);
        Assert.Contains("<td>officer1</td><td>Juki-Net: never issued &lt;console&gt;</td>", feed, StringComparison.Ordinal);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM jukinet_gaps WHERE id = {gap} AND closed_by = 'officer1' AND closed_us IS NOT NULL"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'jukinet.gap-closed' AND actor = 'officer1' AND subject = 'jukinet:{first}-{first}'"));
    }

    private async Task RequestCompromiseThroughTheConsoleAsync(OfficerConsoleClient console, string token)
    {
        var key = ActiveIssuerKey();
        var (requested, _, requestedLocation) = await console.PostAsync("console/issuer-keys/compromise", token, new() { ["keyId"] = key, ["statement"] = "console drill: key backup tape lost" });
        Assert.Equal(HttpStatusCode.SeeOther, requested);
        var request = IdIn(requestedLocation);
        try
        {
            Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM issuer_compromise_requests WHERE id = {request} AND issuer_key_id = '{key}' AND requested_by = 'officer1' AND approved_by IS NULL"));
            Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'issuer-key.compromise-requested' AND actor = 'officer1' AND subject = '{key}' AND details LIKE '%\"requestId\":{request},%'"));
            var issuers = await PageAsync(console, requestedLocation!.TrimStart('/'));
            Assert.Contains($"危殆化を申請しました（申請 {request}）", issuers, StringComparison.Ordinal);
            Assert.Contains($"<tr class=\"compromise-request\" id=\"compromise-{request}\"><td>{request}</td><td>{key}</td><td>officer1</td><td>console drill: key backup tape lost</td>", issuers, StringComparison.Ordinal);
            Assert.DoesNotContain($"id=\"compromise-approve-{request}\"", issuers, StringComparison.Ordinal);
            using (var second = new OfficerConsoleClient(ca.CaAddress))
            {
                await second.LoginAsync(ca.Tokens["officer2"]);
                Assert.Contains($"id=\"compromise-approve-{request}\"", await PageAsync(second, "console/issuers"), StringComparison.Ordinal);
            }

            var (own, ownPage, _) = await console.PostAsync($"console/issuer-keys/{key}/compromise/{request}/approve", token);
            Assert.Equal(HttpStatusCode.Forbidden, own);
            Assert.Contains("urn:jpki:problem:second-officer-required", ownPage, StringComparison.Ordinal);
            Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM issuer_keys WHERE id = '{key}' AND state = 'compromised'"));
            Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM issuer_compromise_requests WHERE id = {request} AND approved_by IS NULL"));
        }
        finally
        {
            // Nobody may approve it later in this fixture's life: the request expires now.
            ca.ExecuteSql("UPDATE issuer_compromise_requests SET expires_us = 0 WHERE id = @request", new { request });
        }
    }

    [Fact]
    public async Task Bad_input_is_a_clear_error_on_the_page_and_changes_nothing()
    {
        var verifier = "console-bad-" + Suffix();
        ca.AddAccount(new Account(verifier, AccountRole.Verifier, [], false));
        var operatorId = NewOperator("352047");
        var (_, openGap) = OpenGap(8_200_000_000L);
        using var console = new OfficerConsoleClient(ca.CaAddress);
        await console.LoginAsync(ca.Tokens["officer1"]);
        var token = await console.CsrfOfAsync("console/accounts");
        long Changes() => ca.CountRows("SELECT COUNT(*) FROM approval_requests") + ca.CountRows("SELECT COUNT(*) FROM accounts")
            + ca.CountRows("SELECT COUNT(*) FROM verifier_client_certificates") + ca.CountRows("SELECT COUNT(*) FROM issuer_compromise_requests")
            + ca.CountRows("SELECT COUNT(*) FROM jukinet_gaps WHERE closed_us IS NOT NULL");
        var before = Changes();
        try
        {
            await BadInputAsync(console, token, verifier, operatorId, openGap);
            Assert.Equal(before, Changes());
            Assert.Equal(["352047"], Municipalities(operatorId));
        }
        finally
        {
            CloseGap(openGap);
        }
    }

    private async Task BadInputAsync(OfficerConsoleClient console, string token, string verifier, string operatorId, long openGap)
    {
        var cases = new (string Path, Dictionary<string, string> Fields, HttpStatusCode Status, string Says)[]
        {
            ("console/accounts/console-nobody/role", new() { ["role"] = "auditor" }, HttpStatusCode.NotFound, "no such account"),
            ("console/accounts/console-nobody/municipalities", new() { ["municipality"] = "352012" }, HttpStatusCode.NotFound, "no such account"),
            ("console/accounts/console-nobody/disable", [], HttpStatusCode.NotFound, "no such account"),
            ("console/accounts", new() { ["id"] = "Bad Id!", ["role"] = "operator", ["municipality"] = "352012" }, HttpStatusCode.BadRequest, "id must be 3-40 characters"),
            ("console/accounts", new() { ["id"] = "console-x-" + Suffix(), ["role"] = "operator" }, HttpStatusCode.BadRequest, "an operator is bound to at least one municipality"),
            ("console/accounts", new() { ["id"] = "console-x-" + Suffix(), ["role"] = "operator", ["municipality"] = "999999" }, HttpStatusCode.BadRequest, "municipality 999999 is not one this CA issues for"),
            ("console/accounts", new() { ["id"] = "console-x-" + Suffix(), ["role"] = "root" }, HttpStatusCode.BadRequest, "role must be operator, officer, auditor or verifier"),
            ("console/accounts", new() { ["id"] = operatorId, ["role"] = "verifier" }, HttpStatusCode.Conflict, "exists already"),
            ($"console/accounts/{operatorId}/municipalities", [], HttpStatusCode.BadRequest, "an operator is bound to at least one municipality"),
            ($"console/accounts/{verifier}/client-certificates", new() { ["certificatePem"] = "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----" }, HttpStatusCode.BadRequest, "is not an X.509 certificate"),
            ($"console/accounts/{verifier}/client-certificates", [], HttpStatusCode.BadRequest, "must be one X.509 certificate"),
            ($"console/accounts/{operatorId}/client-certificates", new() { ["certificatePem"] = SelfSigned("CN=not a verifier").Pem }, HttpStatusCode.BadRequest, "verifier accounts only"),
            ($"console/accounts/{verifier}/client-certificates/{new string('a', 64)}/remove", [], HttpStatusCode.NotFound, "no such client certificate"),
            ("console/feed/gaps/999999999/close", new() { ["reason"] = "no such gap here" }, HttpStatusCode.NotFound, "no such open gap"),
            ($"console/feed/gaps/{openGap}/close", new() { ["reason"] = "x" }, HttpStatusCode.UnprocessableEntity, "reason (3-1000 characters)"),
            ("console/issuer-keys/compromise", new() { ["keyId"] = "no-such-key", ["statement"] = "a statement" }, HttpStatusCode.NotFound, "no such issuer key"),
            ("console/issuer-keys/compromise", new() { ["keyId"] = ActiveIssuerKey(), ["statement"] = "x" }, HttpStatusCode.UnprocessableEntity, "statement (3-1000 characters)"),
            ("console/issuer-keys/no-such-key/compromise/999999999/approve", [], HttpStatusCode.NotFound, "no compromise request with this id"),
        };
        foreach (var (path, fields, expected, says) in cases)
        {
            var (status, html, _) = await console.PostAsync(path, token, fields);
            Assert.True(status == expected, $"{path}: {status}, expected {expected}: {html}");
            Assert.Contains("<p class=\"error\" role=\"alert\"", html, StringComparison.Ordinal);
            Assert.Contains(says, html, StringComparison.Ordinal);
            Assert.Contains("id=\"back\"", html, StringComparison.Ordinal);
        }

        // A file that is not DER.
        var (der, derPage, _) = await console.PostFileAsync($"console/accounts/{verifier}/client-certificates", token, "certificateFile", [0x30, 0x82, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef]);
        Assert.True(der == HttpStatusCode.BadRequest, derPage);
        Assert.Contains("is not an X.509 certificate", derPage, StringComparison.Ordinal);
        var (unknownPage, unknownHtml, _) = await console.GetAsync("console/accounts/console-nobody");
        Assert.Equal(HttpStatusCode.NotFound, unknownPage);
        Assert.Contains("アカウントがありません no such account", unknownHtml, StringComparison.Ordinal);
    }

    /// <summary>Every new action refuses a forged post (no token, another session's token, another origin) and every other role's session; nothing changes.</summary>
    [Fact]
    public async Task Forged_posts_and_other_roles_change_nothing_through_the_new_actions()
    {
        var operatorId = NewOperator("352047");
        var verifier = "console-forge-" + Suffix();
        ca.AddAccount(new Account(verifier, AccountRole.Verifier, [], false));
        var certificate = SelfSigned("CN=console forged");
        await ca.RequestAndApproveAsync(HttpMethod.Post, $"api/v1/accounts/{verifier}/client-certificates", new { certificatePem = SelfSigned("CN=console kept").Pem });
        var (_, gap) = OpenGap(8_300_000_000L);
        var key = ActiveIssuerKey();
        var forgedId = "console-forged-" + Suffix();
        var fields = new Dictionary<string, string>
        {
            ["id"] = forgedId,
            ["role"] = "officer",
            ["municipality"] = "352012",
            ["reason"] = "forged post",
            ["keyId"] = key,
            ["statement"] = "forged post",
            ["certificatePem"] = certificate.Pem,
        };
        var sha = ShaOf(verifier);
        string[] actions =
        [
            "console/accounts", $"console/accounts/{operatorId}/role", $"console/accounts/{operatorId}/municipalities", $"console/accounts/{operatorId}/disable",
            $"console/accounts/{verifier}/client-certificates", $"console/accounts/{verifier}/client-certificates/{sha}/remove", $"console/feed/gaps/{gap}/close",
            "console/issuer-keys/compromise", $"console/issuer-keys/{key}/compromise/999999999/approve", "console/accounts/me/token",
        ];
        long Changes() => ca.CountRows("SELECT COUNT(*) FROM approval_requests") + ca.CountRows("SELECT COUNT(*) FROM accounts WHERE disabled = 1")
            + ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{forgedId}'") + ca.CountRows("SELECT COUNT(*) FROM issuer_compromise_requests")
            + ca.CountRows($"SELECT COUNT(*) FROM jukinet_gaps WHERE id = {gap} AND closed_us IS NOT NULL") + ca.CountRows($"SELECT COUNT(*) FROM verifier_client_certificates WHERE account = '{verifier}'")
            + ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'account.token-rotated'");
        var before = Changes();
        try
        {
            await ForgeAsync(actions, fields, operatorId);
            Assert.Equal(before, Changes());
            Assert.Equal(["352047"], Municipalities(operatorId));
            Assert.Equal(0, ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE details LIKE '%forged post%'"));
            Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM verifier_client_certificates WHERE sha256 = '{sha}'"));
            // No token was rotated by a forged post or another role's session: the API tokens still work.
            foreach (var account in new[] { "officer1", "officer2", "auditor", "operator", "verifier" })
            {
                Assert.Equal(200, (await ca.SendAsync(HttpMethod.Get, "api/v1/accounts/me", account)).Status);
            }
        }
        finally
        {
            CloseGap(gap);
        }
    }

    /// <summary>
    /// An officer rotates their own API token in the console: the method of
    /// <c>POST /api/v1/accounts/me/token</c>, the new token shown once, the old one refused at once,
    /// audited <c>account.token-rotated</c>; the console session goes on.
    /// </summary>
    [Fact]
    public async Task An_officer_rotates_their_own_api_token_through_the_console()
    {
        var officer = "console-rotate-" + Suffix();
        var oldToken = ca.AddAccount(new Account(officer, AccountRole.Officer, [], false));
        using var console = new OfficerConsoleClient(ca.CaAddress);
        await console.LoginAsync(oldToken);
        var page = await PageAsync(console, $"console/accounts/{officer}");
        Assert.Contains("id=\"token-form\"", page, StringComparison.Ordinal);
        var token = await console.CsrfOfAsync($"console/accounts/{officer}");

        var (status, answer, _) = await console.PostAsync("console/accounts/me/token", token);
        Assert.True(status == HttpStatusCode.OK, answer);
        var fresh = System.Text.RegularExpressions.Regex.Match(answer, "<th>APIトークン API token</th><td>([0-9a-f]{64})</td>");
        Assert.True(fresh.Success, answer);
        Assert.NotEqual(oldToken, fresh.Groups[1].Value);
        Assert.Equal(401, (await ca.SendAsync(HttpMethod.Get, "api/v1/accounts/me", oldToken)).Status);
        var (meStatus, me, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/accounts/me", fresh.Groups[1].Value);
        Assert.Equal(200, meStatus);
        Assert.Equal(officer, me.GetProperty("id").GetString());
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.token-rotated' AND actor = '{officer}' AND subject = '{officer}'"));
        Assert.Equal(HttpStatusCode.OK, (await console.GetAsync("console/accounts")).Status);

        // Another officer's page of this account offers no rotation: a token is rotated by its holder only.
        using var other = new OfficerConsoleClient(ca.CaAddress);
        await other.LoginAsync(ca.Tokens["officer2"]);
        Assert.DoesNotContain("id=\"token-form\"", await PageAsync(other, $"console/accounts/{officer}"), StringComparison.Ordinal);

        // The shared fixture's other tests count exactly two enabled officers (officer1, officer2).
        ca.ExecuteSql("UPDATE accounts SET disabled = 1 WHERE id = @officer", new { officer });
    }

    private async Task ForgeAsync(string[] actions, Dictionary<string, string> fields, string operatorId)
    {
        using var other = new OfficerConsoleClient(ca.CaAddress);
        await other.LoginAsync(ca.Tokens["officer1"]);
        var othersToken = await other.CsrfOfAsync("console/accounts");
        using var console = new OfficerConsoleClient(ca.CaAddress);
        await console.LoginAsync(ca.Tokens["officer2"]);
        var token = await console.CsrfOfAsync("console/accounts");
        foreach (var action in actions)
        {
            foreach (var (csrf, origin) in new (string?, string?)[] { (null, null), (othersToken, null), (token, "http://evil.example") })
            {
                var (status, html, _) = await console.PostAsync(action, csrf, fields, origin);
                Assert.True(status == HttpStatusCode.Forbidden, $"{action} csrf {csrf} origin {origin}: {status}");
                Assert.Contains("class=\"error\"", html, StringComparison.Ordinal);
            }
        }

        var sessions = new Dictionary<string, string>
        {
            ["auditor"] = SessionOf("auditor"),
            ["operator"] = SessionOf("operator"),
            ["verifier"] = SessionOf("verifier"),
            ["kiosk (an operator's POST /api/v1/sessions token)"] = await KioskSessionAsync(),
        };
        foreach (var (name, session) in sessions)
        {
            using var client = new OfficerConsoleClient(ca.CaAddress);
            client.UseSession(session);
            foreach (var action in actions)
            {
                var (status, html, _) = await client.PostAsync(action, ConsoleForms.TokenFor(session), fields);
                Assert.True(status == HttpStatusCode.Forbidden, $"{name} posting {action}: {status}");
                Assert.Contains("職員のみ officers only", html, StringComparison.Ordinal);
            }

            var (page, _, _) = await client.GetAsync($"console/accounts/{operatorId}");
            Assert.Equal(HttpStatusCode.Forbidden, page);
        }
    }

    /// <summary>
    /// An open gap far beyond anything the simulator holds (asking for it brings nothing), opened
    /// now so that its alarm (after <c>feed.gapAlarmAfter</c>) does not fire and degrade the CA's
    /// health for the other tests of the fixture.
    /// </summary>
    private (long First, long Id) OpenGap(long from)
    {
        var first = from + Random.Shared.Next(1_000_000);
        ca.ExecuteSql(
            "INSERT INTO jukinet_gaps (first_sequence, last_sequence, opened_us) VALUES (@first, @first, @now)",
            new { first, now = Jpki.Core.Store.Instant.ToMicros(DateTimeOffset.UtcNow) });
        return (first, ca.CountRows($"SELECT id FROM jukinet_gaps WHERE first_sequence = {first}"));
    }

    private void CloseGap(long id) =>
        ca.ExecuteSql("UPDATE jukinet_gaps SET closed_us = 1, closed_by = 'console-test', close_reason = 'test cleanup' WHERE id = @id AND closed_us IS NULL", new { id });

    /// <summary>The number a redirect names (<c>?requested=12</c>).</summary>
    private static long IdIn(string? location)
    {
        Assert.NotNull(location);
        return long.Parse(location[(location.IndexOf('=', StringComparison.Ordinal) + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private string ShaOf(string verifier)
    {
        using var database = new Jpki.Core.Store.Database("Data Source=" + ca.DatabasePath, TimeProvider.System);
        using var db = database.OpenConnection();
        return ClientCertificateStore.List(db, verifier).Single().Sha256;
    }
}
