using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Jpki.Ca;
using Jpki.Card;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// Issue 8's remaining window cases: renewal through the CA's <c>renews</c>, a lost card with
/// neither card nor receipt, the idle timeout, the CA's lockout, the CA going down between lookup
/// and issuance, and the under-15 override.
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
        Assert.Equal(4, (await install.CertificateAsync(oldAuthentication)).GetProperty("reason").GetInt32()); // superseded
        Assert.Equal(3, (await install.CertificateAsync(oldSigning)).GetProperty("reason").GetInt32()); // still affiliationChanged
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
        Assert.Equal(2, Regex.Count(browser.Html, "class=\"revoked\""));
        foreach (var serial in serials)
        {
            Assert.Contains(serial, browser.Html, StringComparison.Ordinal);
            var status = await install.CertificateAsync(serial);
            Assert.Equal("revoked", status.GetProperty("status").GetString());
            Assert.Equal(1, status.GetProperty("reason").GetInt32()); // keyCompromise
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

        // Now even the right password must wait (the CA throttles, it never locks), and the page says so plainly.
        await browser.PostAsync("/login", new Dictionary<string, string> { ["account"] = id, ["password"] = password });
        Assert.Equal(429, browser.Status);
        Assert.Contains(KioskText.Japanese.LoginThrottled, browser.Html, StringComparison.Ordinal);
        Assert.DoesNotContain(KioskText.Japanese.LoginFailed, browser.Html, StringComparison.Ordinal);
        await browser.GetAsync("/enrol");
        Assert.Contains("name=\"password\"", browser.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_ca_going_down_between_lookup_and_issuance_gives_a_clear_page_and_leaves_nothing_half_done()
    {
        var residentCode = await install.AddResidentAsync();
        // A second CA instance on a port of its own, so it can come back on the same address.
        var caAddress = new Uri($"http://127.0.0.1:{FreePort()}/");
        var ca = install.BuildCa(caAddress.ToString().TrimEnd('/'));
        await ca.StartAsync();
        var (kiosk, address) = await install.StartKioskAsync(new KioskOptions { CaBaseAddress = caAddress, WindowId = "DOWNKIOSK", CaTimeout = TimeSpan.FromSeconds(10) });
        await using (kiosk)
        {
            using var browser = new KioskBrowser(address);
            await browser.LoginAsync("operator", install.OperatorPassword);
            await browser.GetAsync("/enrol");
            await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
            Assert.True(browser.Status == 200, browser.Html);
            await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes" });
            Assert.Contains("name=\"signingPin\"", browser.Html, StringComparison.Ordinal);

            // The CA process goes away after the lookup, before issuance.
            await ca.StopAsync();
            await ca.DisposeAsync();
            var cardsBefore = install.Cards.Store.Labels();
            var issuedBefore = install.IssuedCertificates();
            var goodUndeliveredBefore = install.Scalar("SELECT COUNT(*) FROM certificates WHERE status = 'good' AND delivery_state = 'issued'");

            await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));

            Assert.Equal(503, browser.Status);
            Assert.Contains(KioskText.Japanese.CaUnreachable, browser.Html, StringComparison.Ordinal);
            // The enrolment is kept (same card, requests and Idempotency-Keys) for a retry.
            Assert.Contains("name=\"authenticationPin\"", browser.Html, StringComparison.Ordinal);

            // No half state: the card holds no certificate, the CA stored nothing, nothing issued waits for delivery.
            var card = Assert.Single(install.Cards.Store.Labels().Except(cardsBefore));
            Assert.Empty(install.Cards.Certificates(card));
            Assert.Equal(issuedBefore, install.IssuedCertificates());
            Assert.Equal(goodUndeliveredBefore, install.Scalar("SELECT COUNT(*) FROM certificates WHERE status = 'good' AND delivery_state = 'issued'"));

            // The CA comes back: the retry, on the same card with the same requests, finishes the enrolment once.
            await using var back = install.BuildCa(caAddress.ToString().TrimEnd('/'));
            await back.StartAsync();
            await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
            Assert.True(browser.Status == 200, browser.Html);
            Assert.Contains("id=\"delivered\"", browser.Html, StringComparison.Ordinal);
            Assert.Equal(card, browser.CardOnPage());
            Assert.Equal(2, install.Cards.Certificates(card).Count);
            Assert.Equal(issuedBefore + 2, install.IssuedCertificates());
            Assert.Equal(goodUndeliveredBefore, install.Scalar("SELECT COUNT(*) FROM certificates WHERE status = 'good' AND delivery_state = 'issued'"));
            await back.StopAsync();
            await kiosk.StopAsync();
        }
    }

    [Fact]
    public async Task The_ca_going_down_between_the_two_issuances_gives_a_clear_page_writes_nothing_to_the_card_and_the_retry_finishes_the_enrolment_once()
    {
        var residentCode = await install.AddResidentAsync();
        await using var window = await AtThePinsBehindACaThatStopsAfterItsFirstIssuanceAsync(residentCode, "HALFKIOSK");
        var browser = window.Browser;
        var cardsBefore = install.Cards.Store.Labels();
        var issuedBefore = install.IssuedCertificates();
        var goodUndeliveredBefore = install.Scalar("SELECT COUNT(*) FROM certificates WHERE status = 'good' AND delivery_state = 'issued'");

        await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));

        // A clear page naming what was issued; the enrolment is kept for the retry.
        Assert.True(window.CaStopped, "the proxy saw no issuance");
        Assert.Equal(503, browser.Status);
        var named = HalfIssuedPattern().Match(browser.Html);
        Assert.True(named.Success, browser.Html);
        var authentication = named.Groups[1].Value;
        Assert.Contains("name=\"authenticationPin\"", browser.Html, StringComparison.Ordinal);

        // The CA stored exactly that one certificate, authentication, good and waiting for delivery;
        // nothing was written to the card.
        var card = Assert.Single(install.Cards.Store.Labels().Except(cardsBefore));
        Assert.Empty(install.Cards.Certificates(card));
        Assert.Equal(issuedBefore + 1, install.IssuedCertificates());
        Assert.Equal(1, install.Scalar("SELECT COUNT(*) FROM certificates WHERE serial = @authentication AND kind = 'authentication' AND status = 'good' AND delivery_state = 'issued'", new { authentication }));

        // The CA comes back on the same address: the retry gets the same authentication
        // certificate (same body, same Idempotency-Key), the signing one once, both on the card and confirmed.
        await using var back = install.BuildCa(window.CaAddress.ToString().TrimEnd('/'));
        await back.StartAsync();
        await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
        Assert.True(browser.Status == 200, browser.Html);
        Assert.Contains("id=\"delivered\"", browser.Html, StringComparison.Ordinal);
        Assert.Equal(card, browser.CardOnPage());
        var onCard = install.Cards.Certificates(card);
        Assert.Equal(authentication, onCard.Single(c => c.Application == CardApplication.Authentication).Serial);
        var signing = onCard.Single(c => c.Application == CardApplication.Signing).Serial;
        Assert.Equal(issuedBefore + 2, install.IssuedCertificates());
        Assert.Equal(2, install.Scalar("SELECT COUNT(*) FROM certificates WHERE serial IN (@authentication, @signing) AND status = 'good' AND delivery_state = 'delivered'", new { authentication, signing }));

        // After the delivery window the sweeper finds nothing of this enrolment to revoke.
        AgeCertificates(authentication, signing);
        back.Services.GetRequiredService<CertificateDelivery>().SweepOnce();
        Assert.Equal(2, install.Scalar("SELECT COUNT(*) FROM certificates WHERE serial IN (@authentication, @signing) AND status = 'good' AND delivery_state = 'delivered'", new { authentication, signing }));
        Assert.Equal(goodUndeliveredBefore, install.Scalar("SELECT COUNT(*) FROM certificates WHERE status = 'good' AND delivery_state = 'issued'"));
        Assert.DoesNotContain(install.KioskLog, line => line.Contains(residentCode, StringComparison.Ordinal));
        await back.StopAsync();
        await window.Kiosk.StopAsync();
    }

    [Fact]
    public async Task A_half_issued_enrolment_that_is_never_retried_leaves_nothing_good_and_undelivered_after_the_sweepers_window()
    {
        var residentCode = await install.AddResidentAsync();
        await using var window = await AtThePinsBehindACaThatStopsAfterItsFirstIssuanceAsync(residentCode, "GONEKIOSK");
        var (authentication, card) = await IssueHalfAsync(window);
        Assert.Equal(1, install.Scalar("SELECT COUNT(*) FROM certificates WHERE serial = @authentication AND status = 'good' AND delivery_state = 'issued'", new { authentication }));

        // The resident leaves; nobody retries. The CA is back and its delivery window passes.
        await using var back = install.BuildCa(window.CaAddress.ToString().TrimEnd('/'));
        await back.StartAsync();
        AgeCertificates(authentication);
        Assert.True(back.Services.GetRequiredService<CertificateDelivery>().SweepOnce() >= 1);

        Assert.Equal(1, install.Scalar(
            "SELECT COUNT(*) FROM certificates WHERE serial = @authentication AND status = 'revoked' AND reason = 0 AND revocation_cause = 'destroyedBeforeDelivery' AND delivery_state = 'destroyed'",
            new { authentication }));
        Assert.Equal(0, install.Scalar("SELECT COUNT(*) FROM certificates WHERE status = 'good' AND delivery_state = 'issued' AND created_us < @deadline", new { deadline = (DateTimeOffset.UtcNow - TimeSpan.FromMinutes(30)).ToUnixTimeMilliseconds() * 1000 }));
        Assert.Empty(install.Cards.Certificates(card));
        await back.StopAsync();
        await window.Kiosk.StopAsync();
    }

    [Theory]
    [InlineData("lookup")]
    [InlineData("logout")]
    public async Task A_half_issued_enrolment_given_up_when_the_ca_is_back_revokes_the_issued_certificate_at_once(string givenUpBy)
    {
        var residentCode = await install.AddResidentAsync();
        await using var window = await AtThePinsBehindACaThatStopsAfterItsFirstIssuanceAsync(residentCode, "QUITKIOSK");
        var browser = window.Browser;
        var (authentication, card) = await IssueHalfAsync(window);
        var issuedBefore = install.IssuedCertificates();

        // The CA is back; the operator gives the enrolment up instead of retrying.
        await using var back = install.BuildCa(window.CaAddress.ToString().TrimEnd('/'));
        await back.StartAsync();
        if (givenUpBy == "lookup")
        {
            var next = await install.AddResidentAsync();
            await browser.GetAsync("/enrol");
            await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = next });
            Assert.True(browser.Status == 200, browser.Html);
            Assert.Contains($"{KioskText.Japanese.AbandonedRevoked}: {authentication}</p>", browser.Html, StringComparison.Ordinal);
        }
        else
        {
            await browser.GetAsync("/");
            await browser.PostAsync("/logout", new Dictionary<string, string>());
            Assert.Contains("name=\"password\"", browser.Html, StringComparison.Ordinal);
        }

        Assert.Equal(1, install.Scalar(
            "SELECT COUNT(*) FROM certificates WHERE serial = @authentication AND status = 'revoked' AND reason = 0 AND revocation_cause = 'destroyedBeforeDelivery' AND delivery_state = 'destroyed'",
            new { authentication }));
        Assert.Equal(1, install.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'revocation.requested' AND subject = @authentication AND actor = 'operator'", new { authentication }));
        Assert.Equal(issuedBefore, install.IssuedCertificates());
        Assert.Empty(install.Cards.Certificates(card));
        await back.StopAsync();
        await window.Kiosk.StopAsync();
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

    /// <summary>
    /// A window whose CA — a second instance on its own loopback port, reached through
    /// <see cref="CaProxy"/> — stops right after it has answered the first issuance; the operator
    /// is logged in and has confirmed the resident's facts: the next step is the PINs.
    /// </summary>
    private async Task<HalfWayWindow> AtThePinsBehindACaThatStopsAfterItsFirstIssuanceAsync(string residentCode, string windowId)
    {
        var caAddress = new Uri($"http://127.0.0.1:{FreePort()}/");
        var ca = install.BuildCa(caAddress.ToString().TrimEnd('/'));
        await ca.StartAsync();
        var proxy = await CaProxy.StartAsync(caAddress);
        var (kiosk, address) = await install.StartKioskAsync(new KioskOptions { CaBaseAddress = proxy.Address, WindowId = windowId, CaTimeout = TimeSpan.FromSeconds(10) });
        var window = new HalfWayWindow(caAddress, proxy, kiosk, new KioskBrowser(address));
        proxy.AfterFirstIssuance = async () =>
        {
            await ca.StopAsync();
            await ca.DisposeAsync();
            window.CaStopped = true;
        };
        await window.Browser.LoginAsync("operator", install.OperatorPassword);
        await window.Browser.GetAsync("/enrol");
        await window.Browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        await window.Browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes" });
        return window;
    }

    /// <summary>
    /// Enters the PINs at <paramref name="window"/>: the CA stops after the authentication
    /// certificate, the kiosk answers 503 naming it. Returns its serial and the one new card.
    /// </summary>
    private async Task<(string AuthenticationSerial, string Card)> IssueHalfAsync(HalfWayWindow window)
    {
        var cardsBefore = install.Cards.Store.Labels();
        await window.Browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
        Assert.Equal(503, window.Browser.Status);
        var authentication = HalfIssuedPattern().Match(window.Browser.Html).Groups[1].Value;
        return (authentication, Assert.Single(install.Cards.Store.Labels().Except(cardsBefore)));
    }

    private sealed class HalfWayWindow(Uri caAddress, CaProxy proxy, WebApplication kiosk, KioskBrowser browser) : IAsyncDisposable
    {
        public Uri CaAddress { get; } = caAddress;

        public WebApplication Kiosk { get; } = kiosk;

        public KioskBrowser Browser { get; } = browser;

        /// <summary>Set once the proxy has stopped the CA.</summary>
        public bool CaStopped { get; set; }

        public async ValueTask DisposeAsync()
        {
            Browser.Dispose();
            await Kiosk.DisposeAsync();
            await proxy.DisposeAsync();
        }
    }

    private string OpensslEndDate(byte[] der)
    {
        var path = Path.Combine(install.Root, Guid.NewGuid().ToString("N") + ".der");
        File.WriteAllBytes(path, der);
        var (exit, stdout, stderr) = ExternalProcess.RunWith("openssl", ["x509", "-inform", "DER", "-in", path, "-noout", "-enddate"]);
        Assert.True(exit == 0, stderr);
        return stdout.Trim();
    }

    /// <summary>Moves certificates' issuance two hours back, past the CA's delivery window (30 minutes), as the CA's own sweeper tests do.</summary>
    private void AgeCertificates(params string[] serials)
    {
        var twoHoursAgo = (DateTimeOffset.UtcNow - TimeSpan.FromHours(2)).ToUnixTimeMilliseconds() * 1000;
        foreach (var serial in serials)
        {
            install.ExecuteSql("UPDATE certificates SET created_us = @twoHoursAgo WHERE serial = @serial", new { twoHoursAgo, serial });
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
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

    [GeneratedRegex("（引渡し前廃棄）: ([0-9a-f]+)</p>")]
    private static partial Regex HalfIssuedPattern();

    [GeneratedRegex("<p id=\"replaced\">([^<]*)</p>")]
    private static partial Regex ReplacedPattern();
}
