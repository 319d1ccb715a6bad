using System.Net;

namespace Jpki.CrlPublisher.Tests;

/// <summary>
/// The publisher's mutual-TLS listener (docs/design.md §6): an officer registers a verifier's client
/// certificate through the CA API; curl presenting it over TLS on 127.0.0.1 gets the CRL, and
/// openssl verifies what it got. An unregistered certificate, none, a non-verifier's, or the
/// certificate of a verifier the officer disabled, gets 401.
/// </summary>
[Collection(CrlTestGroup.Name)]
public sealed class MutualTlsTests(CrlFixture crl)
{
    [Fact]
    public async Task A_client_certificate_registered_through_the_CA_API_fetches_CRLs_over_TLS_and_others_get_401()
    {
        var published = crl.Services.Publisher.Publish(new CrlSeries(CrlFixture.SigningKey, CrlScopeKind.Full), delta: false, scheduled: false)!;
        var id = "tls-verifier-" + Guid.NewGuid().ToString("N")[..6];
        var (created, body, _) = await crl.Ca.SendAsync(HttpMethod.Post, "api/v1/accounts", "officer1", new { id, role = "verifier" });
        Assert.True(created == 201, body.ToString());
        var registered = crl.Tls.NewClient(id);
        var unregistered = crl.Tls.NewClient("stranger");
        var operatorCertificate = crl.Tls.NewClient("operator");

        // Registration: typed refusals for bad input, a non-verifier, a second registration.
        var (bad, problem, _) = await crl.Ca.SendAsync(HttpMethod.Post, $"api/v1/accounts/{id}/client-certificates", "officer1", new { certificatePem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" });
        Assert.Equal(400, bad);
        Assert.Equal("urn:jpki:problem:invalid-request", problem.GetProperty("type").GetString());
        var (notVerifier, _, _) = await crl.Ca.SendAsync(HttpMethod.Post, "api/v1/accounts/operator/client-certificates", "officer1", new { certificatePem = File.ReadAllText(operatorCertificate.Certificate) });
        Assert.Equal(400, notVerifier);
        var (byOperator, _, _) = await crl.Ca.SendAsync(HttpMethod.Post, $"api/v1/accounts/{id}/client-certificates", "operator", new { certificatePem = File.ReadAllText(registered.Certificate) });
        Assert.Equal(403, byOperator);
        // Registration is dual control: the request alone grants nothing.
        var (asked, request, _) = await crl.Ca.SendAsync(HttpMethod.Post, $"api/v1/accounts/{id}/client-certificates", "officer1", new { certificatePem = File.ReadAllText(registered.Certificate) });
        Assert.True(asked == 202, request.ToString());
        var url = new Uri(crl.TlsAddress, $"crl/{CrlFixture.SigningKey}/full.crl").ToString();
        var fetched = Path.Combine(crl.Ca.Root, id + ".crl");
        Assert.Equal(HttpStatusCode.Unauthorized, await FetchAsync(url, registered, fetched));
        var (status, approved, _) = await crl.Ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{request.GetProperty("approval").GetProperty("id").GetInt64()}/approve", "officer2");
        Assert.True(status == 200, approved.ToString());
        var registration = approved.GetProperty("result");
        var fingerprint = await ExternalProcess.RunAsync("openssl", "x509", "-in", registered.Certificate, "-noout", "-fingerprint", "-sha256");
        Assert.Equal(fingerprint.Output.Split('=')[1].Trim().Replace(":", "", StringComparison.Ordinal).ToLowerInvariant(), registration.GetProperty("sha256").GetString());
        var (again, againRequest, _) = await crl.Ca.SendAsync(HttpMethod.Post, $"api/v1/accounts/{id}/client-certificates", "officer1", new { certificatePem = File.ReadAllText(registered.Certificate) });
        Assert.Equal(202, again);
        var (againApproved, _, _) = await crl.Ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{againRequest.GetProperty("approval").GetProperty("id").GetInt64()}/approve", "officer2");
        Assert.Equal(409, againApproved);
        Assert.Equal(200, (await crl.Ca.SendAsync(HttpMethod.Post, $"api/v1/approvals/{againRequest.GetProperty("approval").GetProperty("id").GetInt64()}/reject", "officer1")).Status);
        var (listed, list, _) = await crl.Ca.SendAsync(HttpMethod.Get, $"api/v1/accounts/{id}/client-certificates", "officer1");
        Assert.Equal(200, listed);
        Assert.Equal(registration.GetProperty("sha256").GetString(), list[0].GetProperty("sha256").GetString());
        Assert.Equal(1, crl.Scalar("SELECT COUNT(*) FROM audit_log WHERE subject = @id AND action = 'account.client-certificate-registered' AND actor = 'officer2'", new { id }));

        Assert.Equal(HttpStatusCode.OK, await FetchAsync(url, registered, fetched));
        Assert.Equal(File.ReadAllBytes(published.Path), File.ReadAllBytes(fetched));
        var verified = await ExternalProcess.RunAsync("openssl", "crl", "-inform", "DER", "-in", fetched, "-noout", "-verify", "-CAfile", crl.RootPem);
        Assert.Contains("verify OK", verified.Output, StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.Unauthorized, await FetchAsync(url, unregistered, fetched));
        Assert.Equal(HttpStatusCode.Unauthorized, await FetchAsync(url, null, fetched));
        Assert.Equal(HttpStatusCode.Unauthorized, await FetchAsync(url, operatorCertificate, fetched));

        // Removed, the certificate is refused; registered again, served again.
        var sha256 = registration.GetProperty("sha256").GetString();
        var (removed, _, _) = await crl.Ca.SendAsync(HttpMethod.Delete, $"api/v1/accounts/{id}/client-certificates/{sha256}", "officer1");
        Assert.Equal(204, removed);
        var (removedAgain, gone, _) = await crl.Ca.SendAsync(HttpMethod.Delete, $"api/v1/accounts/{id}/client-certificates/{sha256}", "officer1");
        Assert.Equal(404, removedAgain);
        Assert.Equal("urn:jpki:problem:client-certificate-not-found", gone.GetProperty("type").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, await FetchAsync(url, registered, fetched));
        await crl.Ca.RequestAndApproveAsync(HttpMethod.Post, $"api/v1/accounts/{id}/client-certificates", new { certificatePem = File.ReadAllText(registered.Certificate) });
        Assert.Equal(HttpStatusCode.OK, await FetchAsync(url, registered, fetched));

        var (disabled, _, _) = await crl.Ca.SendAsync(HttpMethod.Post, $"api/v1/accounts/{id}/disable", "officer1");
        Assert.Equal(200, disabled);
        Assert.Equal(HttpStatusCode.Unauthorized, await FetchAsync(url, registered, fetched));
    }

    private async Task<HttpStatusCode> FetchAsync(string url, (string Certificate, string Key)? client, string output)
    {
        List<string> arguments = ["-o", output, "-w", "%{http_code}"];
        if (client is { } c)
        {
            arguments.AddRange(["--cert", c.Certificate, "--key", c.Key]);
        }

        arguments.Add(url);
        var (exitCode, text) = await crl.Tls.CurlAsync([.. arguments]);
        Assert.True(exitCode == 0, text);
        return (HttpStatusCode)int.Parse(text.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
