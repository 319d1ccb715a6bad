namespace Jpki.Ca.Tests;

[Collection(CaTestGroup.Name)]
public sealed class AccountAdministrationTests(CaFixture ca)
{
    [Fact]
    public async Task AnOfficerCreatesBindsAndDisablesAnOperator()
    {
        var id = "operator-" + Guid.NewGuid().ToString("N")[..8];
        var (status, created, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/accounts", "officer1", new { id, role = "operator", municipalityCodes = new[] { "352047" } });
        Assert.True(status == 201, created.ToString());
        var token = created.GetProperty("token").GetString()!;
        Assert.Equal(64, token.Length);
        Assert.Equal(0, ca.CountRows($"SELECT COUNT(*) FROM accounts WHERE token_sha256 = '{token}'"));

        var resident = await ca.AddResidentAsync();
        var lookup = new { residentCode = resident, purpose = "window check" };
        var (lookupStatus, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/residents/lookup", token, lookup);
        Assert.Equal(403, lookupStatus);
        Assert.Equal("urn:jpki:problem:municipality-not-bound", problem.GetProperty("type").GetString());

        // Binding is dual control: nothing changes on the request alone.
        var (bindStatus, asked, _) = await ca.SendAsync(HttpMethod.Put, $"api/v1/accounts/{id}/municipalities", "officer2", new { municipalityCodes = new[] { "352047", "352012" } });
        Assert.True(bindStatus == 202, asked.ToString());
        (lookupStatus, _, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/residents/lookup", token, lookup);
        Assert.Equal(403, lookupStatus);
        var approval = asked.GetProperty("approval").GetProperty("id").GetInt64();
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{approval}/approve", "officer1")).Status);
        (lookupStatus, _, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/residents/lookup", token, lookup);
        Assert.Equal(200, lookupStatus);

        var (disableStatus, _, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/accounts/{id}/disable", "officer1");
        Assert.Equal(200, disableStatus);
        (lookupStatus, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/residents/lookup", token, lookup);
        Assert.Equal(401, lookupStatus);
        Assert.Equal("urn:jpki:problem:unauthenticated", problem.GetProperty("type").GetString());

        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE subject = '{id}' AND action = 'account.created' AND actor = 'officer1'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE subject = '{id}' AND action = 'account.bound' AND actor = 'officer1'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE subject = '{id}' AND action = 'account.disabled'"));
    }

    [Fact]
    public async Task AnOfficerRegistersListsAndDisablesAVerifier()
    {
        var id = "verifier-" + Guid.NewGuid().ToString("N")[..8];
        var (status, created, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/accounts", "officer1", new { id, role = "verifier" });
        Assert.True(status == 201, created.ToString());

        var (listStatus, list, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/verifiers", "officer2");
        Assert.Equal(200, listStatus);
        var listed = list.EnumerateArray().Single(v => v.GetProperty("id").GetString() == id);
        Assert.False(listed.GetProperty("disabled").GetBoolean());
        Assert.Contains(list.EnumerateArray(), v => v.GetProperty("id").GetString() == "verifier");
        Assert.DoesNotContain(list.EnumerateArray(), v => v.GetProperty("id").GetString() == "operator");

        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/accounts/{id}/disable", "officer1")).Status);
        (_, list, _) = await ca.SendAsync(HttpMethod.Get, "api/v1/verifiers", "officer1");
        Assert.True(list.EnumerateArray().Single(v => v.GetProperty("id").GetString() == id).GetProperty("disabled").GetBoolean());

        Assert.Equal(403, (await ca.SendAsync(HttpMethod.Get, "api/v1/verifiers", "verifier")).Status);
    }

    [Fact]
    public async Task OnlyOfficersManageAccountsAndBadRequestsChangeNothing()
    {
        var accounts = ca.CountRows("SELECT COUNT(*) FROM accounts");
        var (status, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/accounts", "operator", new { id = "sneaky", role = "officer" });
        Assert.Equal((403, "urn:jpki:problem:forbidden"), (status, problem.GetProperty("type").GetString()));

        (status, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/accounts", "officer1", new { id = "operator", role = "auditor" });
        Assert.Equal((409, "urn:jpki:problem:account-exists"), (status, problem.GetProperty("type").GetString()));

        (status, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/accounts", "officer1", new { id = "op-nowhere", role = "operator" });
        Assert.Equal((400, "urn:jpki:problem:invalid-request"), (status, problem.GetProperty("type").GetString()));

        (status, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/accounts", "officer1", new { id = "op-tokyo", role = "operator", municipalityCodes = new[] { "131016" } });
        Assert.Equal((400, "urn:jpki:problem:invalid-request"), (status, problem.GetProperty("type").GetString()));

        (status, problem, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/accounts/nobody-here/disable", "officer1");
        Assert.Equal((404, "urn:jpki:problem:account-not-found"), (status, problem.GetProperty("type").GetString()));

        Assert.Equal(accounts, ca.CountRows("SELECT COUNT(*) FROM accounts"));
    }
}
