using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Ca.Tests;

/// <summary>Delivery confirmation and the sweeper of certificates that never reached a card.</summary>
[Collection(CaTestGroup.Name)]
public sealed class DeliveryTests(CaFixture ca)
{
    [Fact]
    public async Task A_confirmed_certificate_stays_and_an_unconfirmed_one_is_revoked_as_destroyed()
    {
        var code = await ca.AddResidentAsync();
        var delivered = await IssueAsync(code, "authentication");
        var lost = await IssueAsync(code, "signing");

        await ExpectAsync($"api/v1/certificates/{delivered}/delivery", CaFixture.UbeOperator, 403, "urn:jpki:problem:municipality-not-bound");
        await ExpectAsync("api/v1/certificates/00aa/delivery", "operator", 404, "urn:jpki:problem:certificate-not-found");
        await ExpectAsync($"api/v1/certificates/{delivered}/delivery", "officer1", 403, "urn:jpki:problem:forbidden");
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, $"api/v1/certificates/{delivered}/delivery", "operator", rawJson: "{}");
        Assert.True(status == 200, body.ToString());
        Assert.Equal("delivered", body.GetProperty("deliveryState").GetString());
        Assert.Equal(200, (await ca.SendAsync(HttpMethod.Post, $"api/v1/certificates/{delivered}/delivery", "operator", rawJson: "{}")).Status);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.delivered' AND subject = '{delivered}' AND actor = 'operator'"));

        // Both made two hours ago; only the unconfirmed one is swept.
        var twoHoursAgo = (DateTimeOffset.UtcNow - TimeSpan.FromHours(2)).ToUnixTimeMilliseconds() * 1000;
        ca.ExecuteSql("UPDATE certificates SET created_us = @twoHoursAgo WHERE serial IN (@delivered, @lost)", new { twoHoursAgo, delivered, lost });
        var swept = ca.CaServices.GetRequiredService<CertificateDelivery>().SweepOnce();
        Assert.True(swept >= 1);
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{lost}' AND status = 'revoked' AND reason = 0 AND delivery_state = 'destroyed' AND revocation_cause = 'destroyedBeforeDelivery'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM certificates WHERE serial = '{delivered}' AND status = 'good' AND delivery_state = 'delivered'"));
        Assert.Equal(1, ca.CountRows($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.destroyed-before-delivery' AND subject = '{lost}' AND actor = 'system/delivery-sweeper'"));

        // The window learns it is too late: the page says what happened.
        await ExpectAsync($"api/v1/certificates/{lost}/delivery", "operator", 409, "urn:jpki:problem:delivery-too-late");
    }

    private async Task<string> IssueAsync(string residentCode, string kind)
    {
        var (status, body, _) = await ca.SendAsync(HttpMethod.Post, "api/v1/certificates", "operator", new { residentCode, kind, csr = ca.NewCardCsr(), windowId = "WIN00001A" });
        Assert.True(status == 201, body.ToString());
        return body.GetProperty("serial").GetString()!;
    }

    private async Task ExpectAsync(string path, string account, int status, string type)
    {
        var (got, problem, contentType) = await ca.SendAsync(HttpMethod.Post, path, account, rawJson: "{}");
        Assert.True(got == status, $"expected {status}, got {got}: {problem}");
        Assert.Equal("application/problem+json", contentType);
        Assert.Equal(type, problem.GetProperty("type").GetString());
    }
}
