using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Jpki.Ca.Tests;

/// <summary>
/// Issuance with <c>renews</c> (issue 8): the 6th-birthday rule inside the old certificate's last
/// three months, the old one superseded in the transaction that records the new one, and every
/// bad <c>renews</c> refused with nothing stored. notAfter is read back with openssl.
/// </summary>
[Collection(CaTestGroup.Name)]
public sealed class RenewalTests(CaFixture ca)
{
    private const string Certificates = "api/v1/certificates";
    private const int BirthMonth = 5;
    private const int BirthDay = 17;

    private static DateOnly TodayJst => DateOnly.FromDateTime(DateTimeOffset.UtcNow.ToOffset(TimeSpan.FromHours(9)).DateTime);

    private static object Body(string residentCode, string kind, string csr, string? renews = null, string? cardExpiry = null) => new
    {
        residentCode,
        kind,
        csr,
        windowId = "WIN00001A",
        cardExpiry,
        renews,
    };

    /// <summary>23:59:59 JST on the nth 17 May strictly after today (JST), computed here independently of the CA.</summary>
    private static DateTimeOffset NthBirthdayEnd(int n)
    {
        var today = TodayJst;
        var first = new DateOnly(today.Year, BirthMonth, BirthDay) > today ? today.Year : today.Year + 1;
        return new DateTimeOffset(first + n - 1, BirthMonth, BirthDay, 14, 59, 59, TimeSpan.Zero);
    }

    private static string DateText(DateOnly date) => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private async Task<JsonElement> IssueAsync(object body, string? idempotencyKey = null)
    {
        var (status, answer, _) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", body, idempotencyKey);
        Assert.True(status == 201, answer.ToString());
        return answer;
    }

    /// <summary>The certificate's notAfter as openssl prints it, e.g. <c>May 17 14:59:59 2032 GMT</c>.</summary>
    private string OpensslNotAfter(JsonElement answer)
    {
        var path = Path.Combine(ca.Root, answer.GetProperty("serial").GetString() + ".pem");
        File.WriteAllText(path, answer.GetProperty("certificatePem").GetString());
        var psi = new ProcessStartInfo("openssl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "x509", "-noout", "-enddate", "-in", path })
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, process.StandardError.ReadToEnd());
        return output.Trim();
    }

    private static string OpensslDate(DateTimeOffset instant) =>
        "notAfter=" + instant.UtcDateTime.ToString("MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture) + " GMT";

    private long Scalar(string sql) => ca.CountRows(sql);

    [Fact]
    public async Task ARenewalInTheLastThreeMonthsCountsTheSixthBirthdayAndSupersedesTheOldOneInTheSameTransaction()
    {
        var code = await ca.AddResidentAsync(dateOfBirth: $"1980-{BirthMonth:D2}-{BirthDay:D2}");
        // The card expires in 30 days, so the old certificate ends inside the renewal window.
        var old = await IssueAsync(Body(code, "authentication", ca.NewCardCsr(), cardExpiry: DateText(TodayJst.AddDays(30))));
        var oldSerial = old.GetProperty("serial").GetString()!;

        var renewed = await IssueAsync(Body(code, "authentication", ca.NewCardCsr(), renews: oldSerial.ToUpperInvariant()));
        var newSerial = renewed.GetProperty("serial").GetString()!;

        Assert.Equal(oldSerial, renewed.GetProperty("renewed").GetString());
        Assert.Equal(NthBirthdayEnd(6), renewed.GetProperty("notAfter").GetDateTimeOffset());
        Assert.Equal(OpensslDate(NthBirthdayEnd(6)), OpensslNotAfter(renewed));

        var (status, got, _) = await ca.SendAsync(HttpMethod.Get, $"{Certificates}/{oldSerial}", "verifier");
        Assert.Equal(200, status);
        Assert.Equal("revoked", got.GetProperty("status").GetString());
        Assert.Equal("superseded", got.GetProperty("reason").GetString());

        // One transaction: the new certificate's 'good' and the old one's 'revoked' status changes
        // are consecutive, and so are the issuance, revocation and request audit records.
        var goodSeq = Scalar($"SELECT change_seq FROM status_changes WHERE serial = '{newSerial}' AND status = 'good'");
        Assert.Equal(goodSeq + 1, Scalar($"SELECT change_seq FROM status_changes WHERE serial = '{oldSerial}' AND status = 'revoked' AND reason = 4"));
        var issuedSeq = Scalar($"SELECT seq FROM audit_log WHERE action = 'certificate.issued' AND subject = '{newSerial}'");
        Assert.Equal(issuedSeq + 1, Scalar($"SELECT seq FROM audit_log WHERE action = 'certificate.revoked' AND subject = '{oldSerial}' AND json_extract(details, '$.reason') = 'superseded' AND json_extract(details, '$.cause') = 'renewal'"));
        Assert.Equal(issuedSeq + 2, Scalar($"SELECT seq FROM audit_log WHERE action = 'revocation.requested' AND subject = '{oldSerial}'"));
        Assert.Equal(1, Scalar($"SELECT COUNT(*) FROM audit_log WHERE seq = {issuedSeq} AND json_extract(details, '$.renews') = '{oldSerial}' AND json_extract(details, '$.birthdaysCounted') = 6"));

        // The revocation names its request, which names who and the successor (the auditor's trail follows it).
        Assert.Equal(1, Scalar(
            $"""
            SELECT COUNT(*) FROM certificates c JOIN revocation_requests r ON c.revocation_source = 'request:' || r.id
            WHERE c.serial = '{oldSerial}' AND c.revocation_cause = 'renewal' AND r.requested_by = 'operator' AND r.cause = 'renewal'
              AND r.statement LIKE '%{newSerial}%'
            """));
    }

    [Fact]
    public async Task ASigningRenewalInTheWindowGetsTheSixthBirthdayCappedByTheRenewedAuthenticationCertificate()
    {
        var code = await ca.AddResidentAsync(dateOfBirth: $"1980-{BirthMonth:D2}-{BirthDay:D2}");
        var oldAuth = await IssueAsync(Body(code, "authentication", ca.NewCardCsr(), cardExpiry: DateText(TodayJst.AddDays(60))));
        var oldSigning = await IssueAsync(Body(code, "signing", ca.NewCardCsr()));
        Assert.Equal(oldAuth.GetProperty("notAfter").GetDateTimeOffset(), oldSigning.GetProperty("notAfter").GetDateTimeOffset());

        // With a 6-year card: the new authentication certificate ends on the 6th birthday...
        var cardExpiry = DateText(TodayJst.AddYears(6).AddDays(200));
        var auth = await IssueAsync(Body(code, "authentication", ca.NewCardCsr(), renews: oldAuth.GetProperty("serial").GetString(), cardExpiry: cardExpiry));
        Assert.Equal(OpensslDate(NthBirthdayEnd(6)), OpensslNotAfter(auth));

        // ... and so does the signing one, still capped by (and equal to) the holder's new authentication certificate.
        var signing = await IssueAsync(Body(code, "signing", ca.NewCardCsr(), renews: oldSigning.GetProperty("serial").GetString(), cardExpiry: cardExpiry));
        Assert.Equal(OpensslDate(NthBirthdayEnd(6)), OpensslNotAfter(signing));
        Assert.Equal(auth.GetProperty("notAfter").GetDateTimeOffset(), signing.GetProperty("notAfter").GetDateTimeOffset());

        foreach (var old in new[] { oldAuth, oldSigning })
        {
            var (_, got, _) = await ca.SendAsync(HttpMethod.Get, $"{Certificates}/{old.GetProperty("serial").GetString()}", "verifier");
            Assert.Equal(("revoked", "superseded"), (got.GetProperty("status").GetString(), got.GetProperty("reason").GetString()));
        }
    }

    [Fact]
    public async Task ARenewalBeforeTheWindowCountsTheFifthBirthdayAndStillSupersedesTheOldOne()
    {
        var code = await ca.AddResidentAsync(dateOfBirth: $"1980-{BirthMonth:D2}-{BirthDay:D2}");
        // 200 days before the old one ends: outside its last three months.
        var old = await IssueAsync(Body(code, "authentication", ca.NewCardCsr(), cardExpiry: DateText(TodayJst.AddDays(200))));
        var renewed = await IssueAsync(Body(code, "authentication", ca.NewCardCsr(), renews: old.GetProperty("serial").GetString()));

        Assert.Equal(OpensslDate(NthBirthdayEnd(5)), OpensslNotAfter(renewed));
        var (_, got, _) = await ca.SendAsync(HttpMethod.Get, $"{Certificates}/{old.GetProperty("serial").GetString()}", "verifier");
        Assert.Equal(("revoked", "superseded"), (got.GetProperty("status").GetString(), got.GetProperty("reason").GetString()));
        Assert.Equal(1, Scalar($"SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issued' AND subject = '{renewed.GetProperty("serial").GetString()}' AND json_extract(details, '$.birthdaysCounted') = 5"));
    }

    [Fact]
    public async Task ARetriedRenewalGetsTheFirstAnswerAndSupersedesOnce()
    {
        var code = await ca.AddResidentAsync();
        var old = await IssueAsync(Body(code, "authentication", ca.NewCardCsr(), cardExpiry: DateText(TodayJst.AddDays(30))));
        var oldSerial = old.GetProperty("serial").GetString()!;
        var body = Body(code, "authentication", ca.NewCardCsr(), renews: oldSerial);
        var key = Guid.NewGuid().ToString();

        var first = await IssueAsync(body, key);
        var again = await IssueAsync(body, key);

        Assert.Equal(first.GetProperty("serial").GetString(), again.GetProperty("serial").GetString());
        Assert.Equal(1, Scalar($"SELECT COUNT(*) FROM status_changes WHERE serial = '{oldSerial}' AND status = 'revoked'"));
        Assert.Equal(1, Scalar($"SELECT COUNT(*) FROM revocation_requests WHERE serial = '{oldSerial}'"));
    }

    [Fact]
    public async Task BadRenewsIsATypedProblemAndStoresNothing()
    {
        var code = await ca.AddResidentAsync();
        var other = await ca.AddResidentAsync();
        var auth = await IssueAsync(Body(code, "authentication", ca.NewCardCsr()));
        var authSerial = auth.GetProperty("serial").GetString()!;
        var othersAuth = (await IssueAsync(Body(other, "authentication", ca.NewCardCsr()))).GetProperty("serial").GetString()!;
        var revoked = (await IssueAsync(Body(code, "signing", ca.NewCardCsr()))).GetProperty("serial").GetString()!;
        var (revokeStatus, revokeBody, _) = await ca.SendAsync(HttpMethod.Post, $"{Certificates}/{revoked}/revocations", "operator", new { cause = "noLongerNeeded", residentCode = code });
        Assert.True(revokeStatus == 201, revokeBody.ToString());
        var expired = (await IssueAsync(Body(code, "signing", ca.NewCardCsr()))).GetProperty("serial").GetString()!;
        ca.ExecuteSql("UPDATE certificates SET not_after_us = 1000000 WHERE serial = @expired", new { expired });

        var cases = new (string Kind, string Renews, int Status, string Type)[]
        {
            ("authentication", "not-hex", 400, "invalid-request"),
            ("authentication", "0123456789abcdef", 422, "renewal-not-found"),
            ("authentication", othersAuth, 403, "renewal-not-the-holder"),
            ("signing", authSerial, 422, "renewal-kind-mismatch"),
            ("signing", revoked, 409, "renewal-revoked"),
            ("signing", expired, 422, "renewal-expired"),
        };
        foreach (var (kind, renews, expectedStatus, type) in cases)
        {
            var certificates = ca.IssuedCertificates;
            var issuedRecords = ca.IssuedAuditRecords;
            var changes = Scalar("SELECT COUNT(*) FROM status_changes");
            var requests = Scalar("SELECT COUNT(*) FROM revocation_requests");

            var (status, problem, contentType) = await ca.SendAsync(HttpMethod.Post, Certificates, "operator", Body(code, kind, ca.NewCardCsr(), renews: renews));

            Assert.True(status == expectedStatus, $"{renews}: {problem}");
            Assert.Equal("application/problem+json", contentType);
            Assert.Equal("urn:jpki:problem:" + type, problem.GetProperty("type").GetString());
            Assert.Equal(certificates, ca.IssuedCertificates);
            Assert.Equal(issuedRecords, ca.IssuedAuditRecords);
            Assert.Equal(changes, Scalar("SELECT COUNT(*) FROM status_changes"));
            Assert.Equal(requests, Scalar("SELECT COUNT(*) FROM revocation_requests"));
        }

        // The certificates named were left as they were.
        Assert.Equal(0, Scalar($"SELECT COUNT(*) FROM certificates WHERE serial IN ('{authSerial}', '{othersAuth}', '{expired}') AND status <> 'good'"));
        Assert.Equal(1, Scalar($"SELECT COUNT(*) FROM certificates WHERE serial = '{revoked}' AND reason = 5"));
    }
}
