using System.Net.Http.Headers;
using Jpki.Core.Accounts;
using Xunit.Abstractions;

namespace Jpki.Ocsp.Tests;

/// <summary>
/// Every endpoint the responder maps against docs/access-control.md: a refusal is the OCSP answer
/// <c>unauthorized</c> (30 03 0A 01 06), anything else (a malformed-request answer included) got past
/// the access check. The endpoints come from the running app, so a new one without a row fails here.
/// </summary>
[Collection(OcspTestGroup.Name)]
public sealed class AccessMatrixTests(OcspFixture ocsp, ITestOutputHelper output)
{
    private static readonly byte[] Unauthorized = [0x30, 0x03, 0x0A, 0x01, 0x06];

    [Fact]
    public async Task Every_ocsp_endpoint_admits_exactly_the_documented_credentials()
    {
        var documented = AccessMatrix.Documented("ocsp");
        var mapped = AccessMatrix.Mapped(ocsp.Service<IServiceProvider>());
        Assert.DoesNotContain(mapped, m => !documented.Any(d => d.Method == m.Method && d.Route == m.Route));
        Assert.DoesNotContain(documented, d => !mapped.Contains((d.Method, d.Route)));

        var credentials = new Dictionary<string, string?>
        {
            ["none"] = null,
            ["wrong-token"] = new string('0', 64),
            ["verifier"] = ocsp.Tokens[OcspFixture.Verifier],
            ["operator"] = ocsp.Tokens[OcspFixture.Operator],
            ["officer"] = ocsp.AddAccount("matrix-officer-" + Guid.NewGuid().ToString("N")[..6], AccountRole.Officer),
            ["auditor"] = ocsp.AddAccount("matrix-auditor-" + Guid.NewGuid().ToString("N")[..6], AccountRole.Auditor),
        };
        var wrong = new List<string>();
        foreach (var rule in documented)
        {
            foreach (var (name, token) in credentials)
            {
                using var request = new HttpRequestMessage(new HttpMethod(rule.Method == "ANY" ? "GET" : rule.Method), new Uri(ocsp.Address, AccessMatrix.Concrete(rule.Route).TrimStart('/')));
                if (token is not null)
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                }

                if (rule.Method == "POST")
                {
                    request.Content = new ByteArrayContent([0x30, 0x00]);
                    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
                }

                using var response = await ocsp.Http.SendAsync(request);
                var body = await response.Content.ReadAsByteArrayAsync();
                Assert.True((int)response.StatusCode < 500, $"{rule.Method} {rule.Route} as {name}: {(int)response.StatusCode}");
                var refused = (int)response.StatusCode is 401 or 403 || body.AsSpan().SequenceEqual(Unauthorized);
                if (refused == rule.Allows(name))
                {
                    wrong.Add($"{rule.Method} {rule.Route} as {name}: {(int)response.StatusCode} {Convert.ToHexString(body.AsSpan(0, Math.Min(8, body.Length)))}");
                }
            }
        }

        var summary = $"ocsp: {documented.Count} endpoints × {credentials.Count} credentials: {wrong.Count} wrong";
        output.WriteLine(summary);
        AccessMatrix.Report("access matrix " + summary);
        Assert.True(wrong.Count == 0, string.Join("; ", wrong));
    }
}
