using System.Text.Json;
using Jpki.Ca.Accounts;

namespace Jpki.Ca.Tests;

/// <summary>
/// The two-officer control tried as an insider would: one person holding two accounts, an officer
/// approving their own request, a new account approving for the colleagues who made it, a change
/// that would leave one officer. Real CA over HTTP on loopback, real SQLite store.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class DualControlTests(CaFixture ca)
{
    [Fact]
    public async Task One_officer_cannot_make_a_second_officer_and_approve_with_it()
    {
        var id = "officer-" + Guid.NewGuid().ToString("N")[..8];
        // A request made before the new officer exists: later the new account may not approve it.
        var earlier = await RequestAsync(HttpMethod.Put, $"api/v1/accounts/{CaFixture.UbeOperator}/municipalities", "officer1", new { municipalityCodes = new[] { "352039", "352021" } });

        var (status, asked, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/accounts", "officer1", new { id, role = "officer" });
        Assert.True(status == 202, asked.ToString());
        Assert.False(asked.TryGetProperty("token", out _));
        Assert.False(asked.TryGetProperty("password", out _));
        var part1 = asked.GetProperty("activationCodePart1").GetString()!;
        var approval = asked.GetProperty("approval").GetProperty("id").GetInt64();
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{id}'"));

        await ExpectAsync(HttpMethod.Post, $"api/v1/approvals/{approval}/approve", "officer1", 403, "approval-same-officer");
        await ExpectAsync(HttpMethod.Post, $"api/v1/approvals/{approval}/approve", "operator", 403, "forbidden");
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{id}'"));

        var (approved, body, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{approval}/approve", "officer2");
        Assert.True(approved == 200, body.ToString());
        var part2 = body.GetProperty("result").GetProperty("activationCodePart2").GetString()!;
        Assert.False(body.GetProperty("result").TryGetProperty("token", out _));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE id = '{id}' AND disabled = 1 AND password_hash IS NULL"));

        // Neither officer's half alone activates it; both together do, once.
        await ExpectAsync(HttpMethod.Post, $"api/v1/accounts/{id}/activation", null, 403, "activation-failed", new { activationCode = part1 + "-" + part1 });
        await ExpectAsync(HttpMethod.Post, $"api/v1/accounts/{id}/activation", null, 403, "activation-failed", new { activationCode = part2 + "-" + part2 });
        var (activated, credentials, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/accounts/{id}/activation", null, new { activationCode = part1 + "-" + part2 });
        Assert.True(activated == 200, credentials.ToString());
        var token = credentials.GetProperty("token").GetString()!;
        await ExpectAsync(HttpMethod.Post, $"api/v1/accounts/{id}/activation", null, 403, "activation-failed", new { activationCode = part1 + "-" + part2 });

        // The new officer approves nothing for the two who made it, nor what was asked before it existed.
        await ExpectAsync(HttpMethod.Post, $"api/v1/approvals/{earlier}/approve", token, 403, "approval-approver-too-new");
        var later = await RequestAsync(HttpMethod.Put, $"api/v1/accounts/{CaFixture.UbeOperator}/municipalities", "officer2", new { municipalityCodes = new[] { "352039", "352021" } }, rejectFirst: earlier);
        await ExpectAsync(HttpMethod.Post, $"api/v1/approvals/{later}/approve", token, 403, "approval-related-officers");
        // Nor may it ask for something that one of them then approves.
        var byNew = await RequestAsync(HttpMethod.Put, "api/v1/switches/feed", token, new { stopped = false, reason = "released by the new officer" });
        await ExpectAsync(HttpMethod.Post, $"api/v1/approvals/{byNew}/approve", "officer1", 403, "approval-related-officers");
        await ExpectAsync(HttpMethod.Post, $"api/v1/approvals/{byNew}/approve", "officer2", 403, "approval-related-officers");

        // The issuer-key compromise (its own two-officer flow) follows the same rules.
        var keyId = "dual-compromise-" + Guid.NewGuid().ToString("N")[..8];
        ca.ExecuteSql(
            "INSERT INTO issuer_keys (id, issuer_id, generation, hsm_key_label, not_before_us, not_after_us, state, created_us) VALUES (@keyId, 'yamaguchi-ken-signing', @generation, 'none', 0, 1, 'active', 0)",
            new { keyId, generation = 100 + Random.Shared.Next(1_000_000) });
        var (asked2, compromise, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/issuer-keys/{keyId}/compromise", "officer2", new { statement = "tape missing" });
        Assert.True(asked2 == 202, compromise.ToString());
        await ExpectAsync(HttpMethod.Post, $"api/v1/issuer-keys/{keyId}/compromise/{compromise.GetProperty("requestId").GetInt64()}/approve", token, 403, "approval-related-officers");
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM issuer_keys WHERE id = '{keyId}' AND state = 'active'"));

        foreach (var request in new[] { later, byNew })
        {
            Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{request}/reject", "officer1")).Status);
        }

        Assert.Equal(["352039"], Municipalities(CaFixture.UbeOperator));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.created' AND subject = '{id}' AND actor = 'officer2' AND details LIKE '%officer1%'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.activated' AND subject = '{id}'"));
        Assert.True(ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'access.denied' AND actor = 'officer1' AND subject = '/api/v1/approvals/{id:long}/approve'") >= 1);
        await DisableAsync(id);
    }

    [Fact]
    public async Task Two_officers_always_remain_and_neither_can_disable_the_other_alone()
    {
        // With exactly two enabled officers, disabling one would leave one: refused at the request.
        var officers = ca.CountRows("SELECT COUNT(*) FROM accounts WHERE role = 'officer' AND disabled = 0");
        Assert.Equal(2, officers);
        await ExpectAsync(HttpMethod.Post, "api/v1/accounts/officer2/disable", "officer1", 409, "too-few-officers");
        await ExpectAsync(HttpMethod.Put, "api/v1/accounts/officer2/role", "officer1", 409, "too-few-officers", new { role = "auditor" });
        await ExpectAsync(HttpMethod.Post, "api/v1/accounts/officer1/disable", "officer1", 403, "approval-own-account");
        await ExpectAsync(HttpMethod.Put, "api/v1/accounts/officer1/role", "officer1", 403, "approval-own-account", new { role = "operator", municipalityCodes = new[] { "352012" } });

        // Disabling the auditor waits for a second officer; the requester withdraws it and nothing changed.
        var request = await RequestAsync(HttpMethod.Post, "api/v1/accounts/auditor/disable", "officer1", null);
        Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM accounts WHERE id = 'auditor' AND disabled = 0"));
        await ExpectAsync(HttpMethod.Post, "api/v1/accounts/auditor/disable", "officer2", 409, "approval-pending");
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{request}/reject", "officer1")).Status);
        await ExpectAsync(HttpMethod.Post, $"api/v1/approvals/{request}/approve", "officer2", 409, "approval-not-pending");
        Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM accounts WHERE id = 'auditor' AND disabled = 0"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'approval.rejected' AND details LIKE '%\"approval\":{request}%'"));
    }

    [Fact]
    public async Task An_approval_after_its_window_changes_nothing()
    {
        var request = await RequestAsync(HttpMethod.Put, $"api/v1/accounts/{CaFixture.UbeOperator}/municipalities", "officer2", new { municipalityCodes = new[] { "352039", "352047" } });
        ca.ExecuteSql("UPDATE approval_requests SET expires_us = requested_us + 1 WHERE id = @request", new { request });
        await ExpectAsync(HttpMethod.Post, $"api/v1/approvals/{request}/approve", "officer1", 409, "approval-expired");
        Assert.Equal(["352039"], Municipalities(CaFixture.UbeOperator));
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{request}/reject", "officer2")).Status);
    }

    [Fact]
    public async Task A_holder_rotates_their_token_and_an_expired_token_is_refused()
    {
        var id = "op-rotate-" + Guid.NewGuid().ToString("N")[..6];
        var (status, created, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/accounts", "officer1", new { id, role = "operator", municipalityCodes = new[] { "352012" } });
        Assert.True(status == 201, created.ToString());
        var first = created.GetProperty("token").GetString()!;
        var (meStatus, me, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/accounts/me", first);
        Assert.Equal(200, meStatus);
        Assert.Equal(id, me.GetProperty("id").GetString());
        Assert.InRange(me.GetProperty("tokenExpiresAt").GetDateTimeOffset(), DateTimeOffset.UtcNow.AddDays(89), DateTimeOffset.UtcNow.AddDays(91));

        var (rotated, answer, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/accounts/me/token", first);
        Assert.Equal(200, rotated);
        var second = answer.GetProperty("token").GetString()!;
        Assert.Equal(401, (await ca.SendAsync(HttpMethod.Get, "api/v1/accounts/me", first)).Status);
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Get, "api/v1/accounts/me", second)).Status);

        ca.ExecuteSql("UPDATE accounts SET token_expires_us = 1 WHERE id = @id", new { id });
        await ExpectAsync(HttpMethod.Get, "api/v1/accounts/me", second, 401, "unauthenticated");
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'account.token-rotated' AND subject = '{id}'"));
    }

    [Fact]
    public async Task Refusals_are_logged_without_the_token_and_a_flood_of_403s_leaves_few_audit_records()
    {
        var id = "op-flood-" + Guid.NewGuid().ToString("N")[..6];
        var token = ca.AddAccount(new Jpki.Core.Accounts.Account(id, Jpki.Core.Accounts.AccountRole.Operator, ["352012"], false));
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(403, (await ca.SendAsync(HttpMethod.Get, "api/v1/verifiers", token)).Status);
        }

        Assert.Equal(401, (await ca.SendAsync(HttpMethod.Get, "api/v1/verifiers", "not-a-token-" + id)).Status);
        Assert.Equal(Access.AccessDeniedAudit.RecordsPerMinute, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'access.denied' AND actor = '{id}'"));
        Assert.Contains(ca.LogLines, l => l.Contains("Jpki.Refusals", StringComparison.Ordinal) && l.Contains($"Account={id}", StringComparison.Ordinal) && l.Contains("Route=/api/v1/verifiers", StringComparison.Ordinal) && l.Contains("Status=403", StringComparison.Ordinal));
        Assert.Contains(ca.LogLines, l => l.Contains("Jpki.Refusals", StringComparison.Ordinal) && l.Contains("Account=anonymous", StringComparison.Ordinal) && l.Contains("Status=401", StringComparison.Ordinal));
        Assert.DoesNotContain(ca.LogLines, l => l.Contains(token, StringComparison.Ordinal) || l.Contains("not-a-token-" + id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_demonstration_install_says_so_in_healthz_and_the_audit_log()
    {
        var (_, health, _) = await ca.SendAsync(HttpMethod.Get, "healthz", null);
        Assert.Equal("demo", health.GetProperty("install").GetProperty("mode").GetString());
        Assert.Contains("secrets/", health.GetProperty("install").GetProperty("warning").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'install.mode' AND subject = 'demo'"));
        Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM install_settings WHERE name = 'install.mode' AND value = 'demo'"));
    }

    private async Task<long> RequestAsync(HttpMethod method, string path, string account, object? body, long? rejectFirst = null)
    {
        if (rejectFirst is { } pending)
        {
            await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{pending}/reject", "officer1");
        }

        var (status, asked, _) = await ca.SendAsync(method, path, account, body, rawJson: body is null ? "{}" : null);
        Assert.True(status == 202, $"{method} {path}: {status} {asked}");
        return asked.GetProperty("approval").GetProperty("id").GetInt64();
    }

    /// <summary>
    /// A key generation's retirement (<c>./jpki hsm retire</c>) is requested and approved at the HSM
    /// console only: the API lists it and may reject it, but an approval over HTTP is refused and
    /// leaves the request pending.
    /// </summary>
    [Fact]
    public async Task A_retirement_request_is_not_approved_over_the_api()
    {
        var nowUs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1000;
        ca.ExecuteSql(
            "INSERT INTO approval_requests (action, subject, payload, requested_by, requested_us, expires_us, state) VALUES ('issuer-key.retire', 'yamaguchi-ken-signing-g1', '{}', 'officer1', @nowUs, @expiresUs, 'pending')",
            new { nowUs, expiresUs = nowUs + 3_600_000_000L });
        var id = ca.CountRows("SELECT MAX(id) FROM approval_requests WHERE action = 'issuer-key.retire'");
        var (listed, list, _) = await ca.SendAsync(HttpMethod.Get, $"api/v1/approvals/{id}", "officer2");
        Assert.True(listed == 200 && list.GetProperty("action").GetString() == "issuer-key.retire", list.ToString());

        await ExpectAsync(HttpMethod.Post, $"api/v1/approvals/{id}/approve", "officer2", 409, "approval-pending");
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM approval_requests WHERE id = {id} AND state = 'pending'"));
        Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM issuer_keys WHERE id = 'yamaguchi-ken-signing-g1' AND state = 'active'"));
        var (rejected, body, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{id}/reject", "officer1", rawJson: "{}");
        Assert.True(rejected == 200, body.ToString());
    }

    private async Task ExpectAsync(HttpMethod method, string path, string? account, int status, string type, object? body = null)
    {
        var (got, problem, _) = await ca.SendAsync(method, path, account, body, rawJson: body is null ? "{}" : null);
        Assert.True(got == status, $"{method} {path} as {account}: expected {status}, got {got}: {problem}");
        Assert.Equal("urn:jpki:problem:" + type, problem.GetProperty("type").GetString());
    }

    private string[] Municipalities(string account)
    {
        using var database = new Jpki.Core.Store.Database("Data Source=" + ca.DatabasePath, TimeProvider.System);
        using var db = database.OpenConnection();
        return [.. Jpki.Core.Accounts.AccountStore.Find(db, account)!.MunicipalityCodes];
    }

    /// <summary>Leaves the fixture with its two officers: the test's officer is disabled by the other two.</summary>
    private async Task DisableAsync(string officer)
    {
        var (status, asked, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/accounts/{officer}/disable", "officer1", rawJson: "{}");
        Assert.True(status == 202, asked.ToString());
        var id = asked.GetProperty("approval").GetProperty("id").GetInt64();
        // officer2 approved the creation: related to the subject but not to the requester; allowed.
        var (approved, body, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{id}/approve", "officer2");
        Assert.True(approved == 200, body.ToString());
        _ = JsonSerializer.Serialize(body);
    }
}

/// <summary>A stolen operator token cannot issue at machine speed: the per-operator rate.</summary>
[Collection(CaTestGroup.Name)]
public sealed class IssuanceRateTests(CaFixture ca)
{
    [Fact]
    public async Task An_operator_over_the_hourly_limit_gets_429_and_nothing_is_issued()
    {
        var id = "op-rate-" + Guid.NewGuid().ToString("N")[..6];
        var token = ca.AddAccount(new Jpki.Core.Accounts.Account(id, Jpki.Core.Accounts.AccountRole.Operator, ["352012"], false));
        await using var limited = ca.BuildCa(TimeProvider.System, s => s with { Accounts = s.Accounts with { IssuancePerOperatorPerHour = 2, IssuancePerOperatorPerDay = 3 } });
        await limited.StartAsync();
        for (var i = 0; i < 2; i++)
        {
            var (issued, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", token, await BodyAsync(), at: CaFixture.BoundAddress(limited));
            Assert.True(issued == 201, body.ToString());
        }

        var before = ca.IssuedCertificates;
        var (status, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", token, await BodyAsync(), at: CaFixture.BoundAddress(limited));
        Assert.Equal(429, status);
        Assert.Equal("urn:jpki:problem:issuance-rate-limited", problem.GetProperty("type").GetString());
        Assert.Equal(before, ca.IssuedCertificates);
        Assert.Equal(2, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issued' AND actor = '{id}'"));

        // Another operator is not held back by this one's rate (a fresh one: the shared "operator"
        // may have issued more than this CA's limit in the last hour, depending on test order).
        var otherToken = ca.AddAccount(new Jpki.Core.Accounts.Account(id + "-b", Jpki.Core.Accounts.AccountRole.Operator, ["352012"], false));
        var (other, otherBody, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", otherToken, await BodyAsync(), at: CaFixture.BoundAddress(limited));
        Assert.True(other == 201, otherBody.ToString());
        await limited.StopAsync();
    }

    private async Task<object> BodyAsync() =>
        new { residentCode = await ca.AddResidentAsync(), kind = "authentication", csr = ca.NewCardCsr(), windowId = "RATE00001" };
}
