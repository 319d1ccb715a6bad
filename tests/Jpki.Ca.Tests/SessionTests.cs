using Jpki.Ca.Access;
using Jpki.Ca.Accounts;
namespace Jpki.Ca.Tests;

[Collection(CaTestGroup.Name)]
public sealed class SessionTests(CaFixture ca)
{
    [Fact]
    public async Task APasswordLoginGivesAShortLivedTokenThatAuthenticates()
    {
        var password = File.ReadAllText(BuiltInAccounts.PasswordPath(ca.Home, "officer2")).Trim();
        var (status, session, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/sessions", null, new { account = "officer2", password });
        Assert.True(status == 201, session.ToString());
        var token = session.GetProperty("token").GetString()!;
        Assert.True(session.GetProperty("expiresAt").GetDateTimeOffset() < DateTimeOffset.UtcNow.AddHours(1));

        var (certStatus, problem, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/certificates/00aa", token);
        Assert.Equal(404, certStatus);
        Assert.Equal("urn:jpki:problem:certificate-not-found", problem.GetProperty("type").GetString());
        Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM sessions WHERE account = 'officer2'"));
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM sessions WHERE token_sha256 = '{token}'"));
    }

    /// <summary>
    /// A logout ends the session in the store: the token a script or the kiosk held, or a copy of it,
    /// authenticates nowhere afterwards. An account's API token is not a session: it is refused
    /// (409) and keeps working, since it is rotated, not ended.
    /// </summary>
    [Fact]
    public async Task ALogoutEndsTheSessionInTheStoreAndAnApiTokenIsNotASession()
    {
        var password = File.ReadAllText(BuiltInAccounts.PasswordPath(ca.Home, "officer2")).Trim();
        var (status, session, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/sessions", null, new { account = "officer2", password });
        Assert.True(status == 201, session.ToString());
        var token = session.GetProperty("token").GetString()!;
        var endedBefore = ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'session.ended' AND subject = 'officer2'");
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Get, "api/v1/accounts/me", token)).Status);

        var (ended, _, _) = await ca.SendAsync(HttpMethod.Delete, "api/v1/sessions/current", token);
        Assert.Equal(204, ended);
        var (after, problem, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/accounts/me", token);
        Assert.Equal(401, after);
        Assert.Equal("urn:jpki:problem:unauthenticated", problem.GetProperty("type").GetString());
        Assert.Equal(401, (await ca.SendAsync(HttpMethod.Delete, "api/v1/sessions/current", token)).Status);
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM sessions WHERE token_sha256 = '{Jpki.Core.Accounts.AccountStore.TokenHash(token)}'"));
        Assert.Equal(endedBefore + 1, ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'session.ended' AND subject = 'officer2' AND details LIKE '%\"via\":\"api\"%'"));

        var (apiToken, refusal, _) = await ca.SendAsync(HttpMethod.Delete, "api/v1/sessions/current", "officer2");
        Assert.Equal(409, apiToken);
        Assert.Equal("urn:jpki:problem:not-a-session", refusal.GetProperty("type").GetString());
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Get, "api/v1/accounts/me", "officer2")).Status);
        Assert.Equal(endedBefore + 1, ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'session.ended' AND subject = 'officer2'"));
    }

    [Fact]
    public async Task WrongPasswordsSlowTheNextAttemptDownButNeverLockTheAccount()
    {
        var password = File.ReadAllText(BuiltInAccounts.PasswordPath(ca.Home, "auditor")).Trim();
        var (status, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/sessions", null, new { account = "nobody", password });
        Assert.Equal(401, status);
        Assert.Equal("urn:jpki:problem:login-failed", problem.GetProperty("type").GetString());
        for (var i = 0; i < 3; i++)
        {
            (status, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/sessions", null, new { account = "auditor", password = "wrong" + i });
            Assert.Equal(401, status);
        }

        // The third wrong password in a row asks for a pause: even the right password waits.
        (status, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/sessions", null, new { account = "auditor", password });
        Assert.Equal(429, status);
        Assert.Equal("urn:jpki:problem:login-throttled", problem.GetProperty("type").GetString());
        Assert.Equal(1, ca.CountRows("SELECT COUNT(*) FROM audit_log WHERE action = 'account.login-throttled' AND subject = 'auditor'"));

        // The long-lived API token is not what was guessed at; it keeps working meanwhile.
        (status, _, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/certificates/00bb", "auditor");
        Assert.Equal(404, status);

        // Not a lock: once the pause is over the right password logs in.
        await Task.Delay(LoginThrottle.AccountDelay(3) + TimeSpan.FromMilliseconds(200));
        (status, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/sessions", null, new { account = "auditor", password });
        Assert.True(status == 201, problem.ToString());
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(2, 0)]
    [InlineData(3, 1)]
    [InlineData(4, 2)]
    [InlineData(7, 16)]
    [InlineData(8, 30)]
    [InlineData(1000, 30)]
    public void An_accounts_delay_grows_with_wrong_passwords_and_stops_at_thirty_seconds(long failures, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), LoginThrottle.AccountDelay(failures));
}
