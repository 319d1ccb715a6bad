using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Jpki.Core.Accounts;
using Xunit.Abstractions;

namespace Jpki.Ca.Tests;

/// <summary>
/// Every endpoint the CA maps, called with no credential, a wrong one and each role's, against the
/// matrix documented in docs/access-control.md: 0 wrong allows, 0 wrong denies. The endpoints come
/// from the running app's EndpointDataSource, so a new one without a documented row fails here.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class AccessMatrixTests(CaFixture ca, ITestOutputHelper output)
{
    private static readonly string[] Roles = ["operator", "officer", "auditor", "verifier"];

    [Fact]
    public async Task Every_ca_endpoint_admits_exactly_the_documented_credentials()
    {
        var documented = AccessMatrix.Documented("ca");
        var mapped = AccessMatrix.Mapped(ca.CaServices);
        var undocumented = mapped.Where(m => !documented.Any(d => d.Method == m.Method && d.Route == m.Route)).ToList();
        var unmapped = documented.Where(d => !mapped.Contains((d.Method, d.Route))).ToList();
        Assert.True(undocumented.Count == 0, "endpoints without a row in docs/access-control.md: " + string.Join(", ", undocumented));
        Assert.True(unmapped.Count == 0, "rows of docs/access-control.md the CA does not map: " + string.Join(", ", unmapped.Select(u => $"{u.Method} {u.Route}")));

        var credentials = await CredentialsAsync();
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = ca.CaAddress };
        var wrongAllows = new List<string>();
        var wrongDenies = new List<string>();
        var calls = 0;
        foreach (var rule in documented)
        {
            foreach (var (name, credential) in credentials)
            {
                var (allowed, status) = await CallAsync(http, rule, credential, credentials, name);
                calls++;
                var expected = rule.Allows(name);
                (expected ? wrongDenies : wrongAllows).AddRange(allowed == expected ? [] : [$"{rule.Method} {rule.Route} as {name}: {status}"]);
            }
        }

        var summary = $"ca: {documented.Count} endpoints × {credentials.Count} credentials = {calls} calls: {wrongAllows.Count} wrong allows, {wrongDenies.Count} wrong denies";
        output.WriteLine(summary);
        AccessMatrix.Report("access matrix " + summary);
        Assert.True(wrongAllows.Count == 0, "wrong allows: " + string.Join("; ", wrongAllows));
        Assert.True(wrongDenies.Count == 0, "wrong denies: " + string.Join("; ", wrongDenies));
    }

    /// <summary>One call; a refusal is 401, 403 or a page's redirect to its login. A 5xx is neither and fails the test.</summary>
    private static async Task<(bool Allowed, int Status)> CallAsync(HttpClient http, AccessRule rule, Credential credential, Dictionary<string, Credential> all, string name)
    {
        using var request = new HttpRequestMessage(new HttpMethod(rule.Method == "ANY" ? "GET" : rule.Method), AccessMatrix.Concrete(rule.Route).TrimStart('/'));
        credential.Apply(request);
        if (rule.Method is "POST" or "PUT")
        {
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        using var response = await http.SendAsync(request);
        var status = (int)response.StatusCode;
        Assert.True(status < 500, $"{rule.Method} {rule.Route} as {name}: {status} {await response.Content.ReadAsStringAsync()}");
        if (rule.Route == "/api/v1/accounts/me/token" && status == 200)
        {
            // The call rotated this account's token: the matrix goes on with the new one.
            var token = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString()!;
            all[name] = Credential.Bearer(token);
        }

        var refused = status is 401 or 403 || (status == 302 && response.Headers.Location?.OriginalString is "/audit" or "/console");
        return (!refused, status);
    }

    private async Task<Dictionary<string, Credential>> CredentialsAsync()
    {
        var tokens = Roles.ToDictionary(r => r, r => ca.AddAccount(new Account("matrix-" + r + "-" + Guid.NewGuid().ToString("N")[..6], AccountStore.ParseRole(r)!.Value, r == "operator" ? ["352012"] : [], false)));
        var credentials = new Dictionary<string, Credential>(StringComparer.Ordinal)
        {
            ["none"] = Credential.None,
            ["wrong-token"] = Credential.Bearer("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
            ["wrong-session"] = Credential.Cookie("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
        };
        foreach (var (role, token) in tokens)
        {
            credentials[role] = Credential.Bearer(token);
        }

        credentials["auditor-session"] = Credential.Cookie(await PageSessionAsync(tokens["auditor"]));
        // Another role's bearer token in the page cookie: a session of the wrong role.
        credentials["officer-session"] = Credential.Cookie(await SessionTokenAsync(tokens["officer"]));
        credentials["officer-console"] = Credential.Console(await ConsoleSessionAsync(tokens["officer"]));
        // An auditor's live session in the console's cookie: a session of the wrong role there.
        credentials["auditor-console"] = Credential.Console(await SessionTokenAsync(tokens["auditor"]));
        return credentials;
    }

    /// <summary>Logs in to the auditor pages with the auditor's API token; the session cookie's value.</summary>
    private async Task<string> PageSessionAsync(string auditorToken)
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = ca.CaAddress };
        using var response = await http.PostAsync("audit/login", new FormUrlEncodedContent([new("token", auditorToken)]));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("jpki-audit=", StringComparison.Ordinal));
        return cookie["jpki-audit=".Length..cookie.IndexOf(';', StringComparison.Ordinal)];
    }

    /// <summary>Logs in to the officer console with the officer's API token; the console cookie's value.</summary>
    private async Task<string> ConsoleSessionAsync(string officerToken)
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = ca.CaAddress };
        using var response = await http.PostAsync("console/login", new FormUrlEncodedContent([new("token", officerToken)]));
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var cookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("jpki-console=", StringComparison.Ordinal));
        return cookie["jpki-console=".Length..cookie.IndexOf(';', StringComparison.Ordinal)];
    }

    /// <summary>A live session of another role: what a password login of that account gives, made here in the store.</summary>
    private Task<string> SessionTokenAsync(string bearerToken)
    {
        var session = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        ca.ExecuteSql(
            "INSERT INTO sessions (token_sha256, account, expires_us, created_us) SELECT @session, id, @expires, @expires FROM accounts WHERE token_sha256 = @token",
            new { session = AccountStore.TokenHash(session), token = AccountStore.TokenHash(bearerToken), expires = Jpki.Core.Store.Instant.ToMicros(DateTimeOffset.UtcNow.AddHours(1)) });
        return Task.FromResult(session);
    }

    private sealed record Credential(string? BearerToken, string? SessionCookie, string CookieName = "jpki-audit")
    {
        public static Credential None { get; } = new(null, null);

        public static Credential Bearer(string token) => new(token, null);

        public static Credential Cookie(string session) => new(null, session);

        public static Credential Console(string session) => new(null, session, "jpki-console");

        public void Apply(HttpRequestMessage request)
        {
            if (BearerToken is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", BearerToken);
            }

            if (SessionCookie is not null)
            {
                request.Headers.Add("Cookie", CookieName + "=" + SessionCookie);
            }
        }
    }
}
