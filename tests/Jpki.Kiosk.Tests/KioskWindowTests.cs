using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Jpki.Ca;
using Jpki.Ca.Access;
using Jpki.Card;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// Issue 8's remaining window cases: renewal through the CA's <c>renews</c>, a lost card with
/// neither card nor receipt, the idle timeout, the CA's lockout, the card's expiry and the
/// under-15 override. The CA going away mid-enrolment is in <see cref="KioskCaOutageTests"/>.
/// </summary>
[Collection(InstallGroup.Name)]
public sealed partial class KioskWindowTests(InstallFixture install)
{
    private const string SigningPin = "PIN4SIGN";
    private const string AuthenticationPin = "4321";

    [Fact]
    public async Task A_renewal_on_the_residents_card_names_the_old_certificates_and_the_ca_supersedes_them_counting_the_sixth_birthday()
    {
        var residentCode = await install.AddResidentAsync(dateOfBirth: "1980-05-17");
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        var (label, oldSerials) = await browser.EnrolAsync(residentCode, card: "", SigningPin, AuthenticationPin);

        // Put the old certificates into their last three months as the CA knows them. The card's
        // expiry cannot bring them there: a real certificate reaches its last three months at the
        // 5th birthday, years after issuance, and a card made to expire this early would keep its
        // expiry through the re-issue and cap the new certificates too (not the 6th birthday).
        var thirtyDays = DateTimeOffset.UtcNow.AddDays(30).ToUnixTimeMilliseconds() * 1000;
        foreach (var serial in oldSerials)
        {
            install.ExecuteSql("UPDATE certificates SET not_after_us = @thirtyDays WHERE serial = @serial", new { thirtyDays, serial });
        }

        var (again, newSerials) = await browser.EnrolAsync(residentCode, card: label, "NEWPIN99", "8642");

        Assert.Equal(label, again);
        Assert.Contains("id=\"replaced\"", browser.Html, StringComparison.Ordinal);
        foreach (var old in oldSerials)
        {
            Assert.Contains(old, ReplacedPattern().Match(browser.Html).Groups[1].Value, StringComparison.Ordinal);
        }

        // Each new certificate's issuance named the old one of its kind, and the CA superseded the
        // old one in that transaction (its one revocation request names the successor).
        foreach (var serial in newSerials)
        {
            Assert.Equal(1, install.Scalar(
                """
                SELECT COUNT(*) FROM audit_log a JOIN certificates n ON n.serial = a.subject
                JOIN certificates o ON o.serial = json_extract(a.details, '$.renews')
                WHERE a.action = 'certificate.issued' AND a.subject = @serial AND o.kind = n.kind
                  AND json_extract(a.details, '$.birthdaysCounted') = 6
                  AND o.status = 'revoked' AND o.reason = 4 AND o.revocation_cause = 'renewal'
                """,
                new { serial }));
        }

        foreach (var old in oldSerials)
        {
            Assert.Equal(1, install.Scalar("SELECT COUNT(*) FROM revocation_requests WHERE serial = @old", new { old }));
            Assert.Equal(1, install.Scalar("SELECT COUNT(*) FROM revocation_requests WHERE serial = @old AND statement LIKE 'renewed by certificate %'", new { old }));
        }

        // The certificates on the card end on the 6th 17 May after today (JST), as openssl reads them.
        var today = DateOnly.FromDateTime(DateTimeOffset.UtcNow.ToOffset(TimeSpan.FromHours(9)).DateTime);
        var sixth = (new DateOnly(today.Year, 5, 17) > today ? today.Year : today.Year + 1) + 5;
        foreach (var certificate in install.Cards.Certificates(label))
        {
            var der = Path.Combine(install.Root, certificate.Serial + ".der");
            File.WriteAllBytes(der, certificate.Der);
            var (exit, stdout, stderr) = ExternalProcess.RunWith("openssl", ["x509", "-inform", "DER", "-in", der, "-noout", "-enddate"]);
            Assert.True(exit == 0, stderr);
            Assert.Equal($"notAfter=May 17 14:59:59 {sixth} GMT", stdout.Trim());
        }
    }

    [Fact]
    public async Task A_re_issue_after_a_move_renews_only_what_is_still_good_and_keeps_the_moves_revocation()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        var (label, _) = await browser.EnrolAsync(residentCode, card: "", SigningPin, AuthenticationPin);
        var oldSigning = install.Cards.Certificates(label).Single(c => c.Application == CardApplication.Signing).Serial;
        var oldAuthentication = install.Cards.Certificates(label).Single(c => c.Application == CardApplication.Authentication).Serial;

        // A move within the municipality: the CA's feed revokes the signing certificate (affiliationChanged).
        using (var change = await install.Http.PostAsJsonAsync(new Uri(install.SimulatorAddress, "api/v1/changes"), new { residentCode, type = "addressChange", effectiveDate = "2026-01-05", address = "山口県山口市亀山町５－６" }))
        {
            Assert.Equal(201, (int)change.StatusCode);
        }

        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while ((await install.CertificateAsync(oldSigning)).GetProperty("status").GetString() != "revoked")
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "the feed did not revoke the signing certificate within 30 s");
            await Task.Delay(100);
        }

        // Re-issue on the same card: the good authentication certificate is renewed, the revoked
        // signing one is not named (the CA would refuse it) and keeps its reason.
        var (_, newSerials) = await browser.EnrolAsync(residentCode, card: label, "NEWPIN77", "9753");

        var newSigning = install.Cards.Certificates(label).Single(c => c.Application == CardApplication.Signing).Serial;
        var newAuthentication = install.Cards.Certificates(label).Single(c => c.Application == CardApplication.Authentication).Serial;
        Assert.Equal(new[] { newSigning, newAuthentication }.Order(), newSerials.Order());
        Assert.Equal(1, install.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issued' AND subject = @newAuthentication AND json_extract(details, '$.renews') = @oldAuthentication", new { newAuthentication, oldAuthentication }));
        Assert.Equal(1, install.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issued' AND subject = @newSigning AND json_extract(details, '$.renews') IS NULL", new { newSigning }));
        Assert.Equal("superseded", (await install.CertificateAsync(oldAuthentication)).GetProperty("reason").GetString());
        Assert.Equal("affiliationChanged", (await install.CertificateAsync(oldSigning)).GetProperty("reason").GetString());
        Assert.Equal("good", (await install.CertificateAsync(newSigning)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task A_lost_card_without_card_or_receipt_is_found_by_the_resident_code_and_both_certificates_are_revoked_keyCompromise()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        var (_, serials) = await browser.EnrolAsync(residentCode, card: "", SigningPin, AuthenticationPin);
        var reads = install.Scalar("SELECT COUNT(*) FROM resident_reads WHERE disclosed = 'certificates' AND purpose = 'revocation: card lost'");

        await browser.GetAsync("/revoke");
        await browser.PostAsync("/revoke", new Dictionary<string, string> { ["residentCode"] = residentCode, ["cause"] = "cardLost" });

        Assert.True(browser.Status == 200, browser.Html);
        Assert.Contains("id=\"found-by-code\"", browser.Html, StringComparison.Ordinal);
        await browser.ConfirmRevocationAsync(serials);
        Assert.True(browser.Status == 200, browser.Html);
        Assert.Equal(2, Regex.Count(browser.Html, "class=\"revoked\""));
        foreach (var serial in serials)
        {
            Assert.Contains(serial, browser.Html, StringComparison.Ordinal);
            var status = await install.CertificateAsync(serial);
            Assert.Equal("revoked", status.GetProperty("status").GetString());
            Assert.Equal("keyCompromise", status.GetProperty("reason").GetString());
        }

        Assert.Equal(reads + 1, install.Scalar("SELECT COUNT(*) FROM resident_reads WHERE disclosed = 'certificates' AND purpose = 'revocation: card lost'"));
        Assert.DoesNotContain(install.KioskLog, line => line.Contains(residentCode, StringComparison.Ordinal));

        // Nothing good is left: the page says so.
        await browser.GetAsync("/revoke");
        await browser.PostAsync("/revoke", new Dictionary<string, string> { ["residentCode"] = residentCode, ["cause"] = "cardLost" });
        Assert.Equal(404, browser.Status);
        Assert.Contains(KioskText.Japanese.NoCertificatesFound, browser.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_idle_session_ends_after_the_configured_timeout_and_activity_keeps_it_alive()
    {
        var idle = TimeSpan.FromSeconds(2);
        var (kiosk, address) = await install.StartKioskAsync(new KioskOptions { CaBaseAddress = install.CaAddress, WindowId = "IDLEKIOSK", IdleTimeout = idle });
        await using (kiosk)
        {
            using var browser = new KioskBrowser(address);
            await browser.LoginAsync("operator", install.OperatorPassword);

            // Activity every half second for twice the timeout keeps the session.
            for (var i = 0; i < 8; i++)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500));
                await browser.GetAsync("/");
                Assert.Contains("<span id=\"account\">operator</span>", browser.Html, StringComparison.Ordinal);
            }

            // Idle a little longer than the timeout: the next page is the login page, saying why.
            await Task.Delay(idle + TimeSpan.FromMilliseconds(700));
            await browser.GetAsync("/enrol");
            Assert.Equal(401, browser.Status);
            Assert.Contains(KioskText.Japanese.SessionExpired, browser.Html, StringComparison.Ordinal);
            Assert.Contains("name=\"password\"", browser.Html, StringComparison.Ordinal);
            await browser.GetAsync("/revoke");
            Assert.DoesNotContain("name=\"residentCode\"", browser.Html, StringComparison.Ordinal);
            await kiosk.StopAsync();
        }
    }

    [Fact]
    public async Task The_cas_throttle_after_repeated_wrong_passwords_is_answered_by_a_clear_page()
    {
        // An operator of this test's own, so the shared one is never slowed down.
        var id = "op-lock-" + Guid.NewGuid().ToString("N")[..8];
        using var create = new HttpRequestMessage(HttpMethod.Post, new Uri(install.CaAddress, "api/v1/accounts"))
        {
            Content = JsonContent.Create(new { id, role = "operator", municipalityCodes = new[] { "352012" } }),
        };
        create.Headers.Authorization = new AuthenticationHeaderValue("Bearer", install.OfficerToken);
        using var created = await install.Http.SendAsync(create);
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        var password = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("password").GetString()!;

        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.GetAsync("/login");
        for (var i = 0; i < 3; i++)
        {
            await browser.PostAsync("/login", new Dictionary<string, string> { ["account"] = id, ["password"] = "wrong-" + i });
            Assert.Equal(401, browser.Status);
            Assert.Contains(KioskText.Japanese.LoginFailed, browser.Html, StringComparison.Ordinal);
        }

        // A fourth wrong password after the first delay (1 s) has passed doubles it: the right password
        // below then has 2 s to arrive inside the delay, not 1 s (it missed that on a loaded CI run).
        await Task.Delay(LoginThrottle.AccountDelay(3) + TimeSpan.FromMilliseconds(200));
        await browser.PostAsync("/login", new Dictionary<string, string> { ["account"] = id, ["password"] = "wrong-3" });
        Assert.Equal(401, browser.Status);

        // Now even the right password must wait (the CA throttles, it never locks), and the page says so plainly.
        await browser.PostAsync("/login", new Dictionary<string, string> { ["account"] = id, ["password"] = password });
        Assert.Equal(429, browser.Status);
        Assert.Contains(KioskText.Japanese.LoginThrottled, browser.Html, StringComparison.Ordinal);
        Assert.DoesNotContain(KioskText.Japanese.LoginFailed, browser.Html, StringComparison.Ordinal);
        await browser.GetAsync("/enrol");
        Assert.Contains("name=\"password\"", browser.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_card_that_expires_before_the_fifth_birthday_keeps_its_expiry_and_caps_both_certificates_at_23_59_59_jst_that_day()
    {
        var residentCode = await install.AddResidentAsync(dateOfBirth: "1980-05-17");
        var today = CardExpiry.JstDate(DateTimeOffset.UtcNow);
        // A card issued years ago, now re-used at the window: it expires two years and three days
        // from today, before the certificates' 5th birthday.
        var cardExpires = today.AddYears(2).AddDays(3);
        var label = install.Cards.CreateBlank(cardExpires);
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);

        var (onCard, serials) = await browser.EnrolAsync(residentCode, card: label, SigningPin, AuthenticationPin);

        Assert.Equal(label, onCard);
        Assert.Equal(2, serials.Count);
        Assert.Equal(cardExpires, install.Cards.Store.Load(label).Expires);
        Assert.Contains($"<td id=\"card-expires\">{cardExpires:yyyy-MM-dd}</td>", browser.Html, StringComparison.Ordinal);
        var expected = string.Create(CultureInfo.InvariantCulture, $"notAfter={cardExpires:MMM} {cardExpires.Day,2} 14:59:59 {cardExpires.Year} GMT");
        foreach (var certificate in install.Cards.Certificates(label))
        {
            Assert.Equal(expected, OpensslEndDate(certificate.Der));
            Assert.Equal(1, install.Scalar(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issued' AND subject = @serial AND json_extract(details, '$.limitedBy') = 'cardExpiry'",
                new { serial = certificate.Serial }));
        }

        // A new card from the kiosk's stock gets the 10th birthday after today (an adult) and the
        // certificates on it end on the 5th, before the card.
        var (fresh, _) = await browser.EnrolAsync(residentCode, card: "", SigningPin, AuthenticationPin);
        var tenth = CardExpiry.For(1980, 5, 17, today);
        Assert.Equal(tenth, install.Cards.Store.Load(fresh).Expires);
        Assert.Contains($"<td id=\"card-expires\">{tenth:yyyy-MM-dd}</td>", browser.Html, StringComparison.Ordinal);
        var fifth = CardExpiry.NthBirthdayAfter(5, 17, today, 5);
        foreach (var certificate in install.Cards.Certificates(fresh))
        {
            Assert.Equal(string.Create(CultureInfo.InvariantCulture, $"notAfter=May 17 14:59:59 {fifth.Year} GMT"), OpensslEndDate(certificate.Der));
        }
    }

    [Fact]
    public async Task An_expired_card_is_refused_at_the_confirmation_step_and_nothing_changes()
    {
        var residentCode = await install.AddResidentAsync();
        var label = install.Cards.CreateBlank();
        var state = install.Cards.Store.Load(label);
        install.Cards.Store.Save(state with { Expires = CardExpiry.JstDate(DateTimeOffset.UtcNow).AddDays(-1) });
        var issuedBefore = install.IssuedCertificates();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/enrol");
        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes", ["card"] = label });

        Assert.Equal(400, browser.Status);
        Assert.Contains(KioskText.Japanese.CardExpired, browser.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("name=\"signingPin\"", browser.Html, StringComparison.Ordinal);
        Assert.Equal(state with { Expires = CardExpiry.JstDate(DateTimeOffset.UtcNow).AddDays(-1) }, install.Cards.Store.Load(label));
        Assert.Equal(issuedBefore, install.IssuedCertificates());
        Assert.Throws<CardExpiredException>(() => install.Cards.Personalise(label, SigningPin, AuthenticationPin));
        Assert.Equal("blank", install.Cards.Describe(label).State);
    }

    private string OpensslEndDate(byte[] der)
    {
        var path = Path.Combine(install.Root, Guid.NewGuid().ToString("N") + ".der");
        File.WriteAllBytes(path, der);
        var (exit, stdout, stderr) = ExternalProcess.RunWith("openssl", ["x509", "-inform", "DER", "-in", path, "-noout", "-enddate"]);
        Assert.True(exit == 0, stderr);
        return stdout.Trim();
    }

    [Fact]
    public async Task An_under_15_override_with_a_reason_issues_the_signing_certificate_and_the_ca_records_the_reason()
    {
        var today = DateTimeOffset.UtcNow.ToOffset(TimeSpan.FromHours(9));
        var residentCode = await install.AddResidentAsync(dateOfBirth: $"{today.Year - 12}-04-01");
        const string reason = "officer approval 2026-114: resident needs e-Tax signing";
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/enrol");
        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        Assert.Contains("id=\"under15\"", browser.Html, StringComparison.Ordinal);
        await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes", ["overrideReason"] = reason });
        Assert.Contains("name=\"signingPin\"", browser.Html, StringComparison.Ordinal);
        await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));

        Assert.True(browser.Status == 200, browser.Html);
        Assert.Contains("id=\"delivered\"", browser.Html, StringComparison.Ordinal);
        var label = browser.CardOnPage();
        var onCard = install.Cards.Certificates(label);
        Assert.Equal([CardApplication.Signing, CardApplication.Authentication], onCard.Select(c => c.Application).Order());
        var signing = onCard.Single(c => c.Application == CardApplication.Signing).Serial;
        Assert.Equal("good", (await install.CertificateAsync(signing)).GetProperty("status").GetString());
        Assert.Equal(1, install.Scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'certificate.issued' AND subject = @signing AND json_extract(details, '$.kind') = 'signing' AND json_extract(details, '$.overrideReason') = @reason",
            new { signing, reason }));
    }

    [GeneratedRegex("<p id=\"replaced\">([^<]*)</p>")]
    private static partial Regex ReplacedPattern();
}
