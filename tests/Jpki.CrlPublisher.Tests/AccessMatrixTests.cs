using System.Net.Http.Headers;
using Xunit.Abstractions;

namespace Jpki.CrlPublisher.Tests;

/// <summary>Every endpoint the CRL publisher maps against docs/access-control.md: verifiers only, a refusal is a 401.</summary>
[Collection(CrlTestGroup.Name)]
public sealed class AccessMatrixTests(CrlFixture crl, ITestOutputHelper output)
{
    [Fact]
    public async Task Every_crl_endpoint_admits_exactly_the_documented_credentials()
    {
        var documented = AccessMatrix.Documented("crl");
        var mapped = AccessMatrix.Mapped(crl.PublisherServices);
        Assert.DoesNotContain(mapped, m => !documented.Any(d => d.Method == m.Method && d.Route == m.Route));
        Assert.DoesNotContain(documented, d => !mapped.Contains((d.Method, d.Route)));

        var credentials = new Dictionary<string, string?>
        {
            ["none"] = null,
            ["wrong-token"] = new string('0', 64),
            ["verifier"] = crl.Ca.Tokens["verifier"],
            ["operator"] = crl.Ca.Tokens["operator"],
            ["officer"] = crl.Ca.Tokens["officer1"],
            ["auditor"] = crl.Ca.Tokens["auditor"],
        };
        var wrong = new List<string>();
        foreach (var rule in documented)
        {
            foreach (var (name, token) in credentials)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(crl.Address, AccessMatrix.Concrete(rule.Route).TrimStart('/')));
                if (token is not null)
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                }

                using var response = await crl.Http.SendAsync(request);
                var status = (int)response.StatusCode;
                // The fixture's publisher publishes nothing at start, so /readyz may rightly say 503 (no CRL to serve yet).
                Assert.True(status < 500 || (rule.Route == "/readyz" && status == 503), $"{rule.Method} {rule.Route} as {name}: {status}");
                var refused = status is 401 or 403;
                if (refused == rule.Allows(name))
                {
                    wrong.Add($"{rule.Method} {rule.Route} as {name}: {status}");
                }
            }
        }

        var summary = $"crl: {documented.Count} endpoints × {credentials.Count} credentials: {wrong.Count} wrong";
        output.WriteLine(summary);
        AccessMatrix.Report("access matrix " + summary);
        Assert.True(wrong.Count == 0, string.Join("; ", wrong));
    }
}
