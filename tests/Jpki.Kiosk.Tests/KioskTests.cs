using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Jpki.Card;
using Microsoft.Extensions.Logging;

namespace Jpki.Kiosk.Tests;

[Collection(InstallGroup.Name)]
public sealed partial class KioskTests(InstallFixture install)
{
    private const string SigningPin = "PIN4SIGN";
    private const string AuthenticationPin = "4321";

    [Fact]
    public async Task A_whole_enrolment_puts_both_certificates_on_the_card_confirms_delivery_and_prints_a_masked_receipt()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);

        await browser.GetAsync("/enrol");
        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        Assert.True(browser.Status == 200, browser.Html);
        // The name as a reader sees it (the encoder writes its U+3000 space as a character reference).
        Assert.Contains("山田　花子", System.Net.WebUtility.HtmlDecode(browser.Html), StringComparison.Ordinal);
        Assert.Contains("山口県山口市亀山町１－２", browser.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("id=\"under15\"", browser.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("id=\"existing\"", browser.Html, StringComparison.Ordinal);

        // The face-to-face check box is required.
        await browser.PostAsync("/enrol/confirm", new Dictionary<string, string>());
        Assert.Equal(400, browser.Status);
        Assert.Contains(KioskText.Japanese.MustConfirm, browser.Html, StringComparison.Ordinal);
        await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes" });
        Assert.Contains("name=\"signingPin\"", browser.Html, StringComparison.Ordinal);

        await PinRulesRefuseAsync(browser);

        await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
        Assert.True(browser.Status == 200, browser.Html);
        Assert.Contains(KioskText.Japanese.Receipt, browser.Html, StringComparison.Ordinal);
        Assert.Contains("id=\"delivered\"", browser.Html, StringComparison.Ordinal);
        Assert.DoesNotContain(residentCode, browser.Html, StringComparison.Ordinal);
        Assert.Contains("*******" + residentCode[^4..], browser.Html, StringComparison.Ordinal);

        var serials = browser.SerialsOnPage();
        Assert.Equal(2, serials.Count);
        var label = browser.CardOnPage();
        var onCard = install.Cards.Certificates(label);
        Assert.Equal(serials.Order(), onCard.Select(c => c.Serial).Order());
        Assert.Equal([CardApplication.Signing, CardApplication.Authentication], onCard.Select(c => c.Application).Order());
        foreach (var serial in serials)
        {
            var status = await install.CertificateAsync(serial);
            Assert.Equal("good", status.GetProperty("status").GetString());
        }

        Assert.False(install.Cards.DescribeKey(label, CardApplication.Signing, SigningPin).Extractable);
        Assert.True(install.Cards.DescribeKey(label, CardApplication.Authentication, AuthenticationPin).NeverExtractable);

        // The receipt page can be shown (and printed) again; it still masks the code.
        await browser.GetAsync("/enrol/receipt");
        Assert.DoesNotContain(residentCode, browser.Html, StringComparison.Ordinal);

        await RevokeLostCardAsync(browser, residentCode, label, serials);

        Assert.DoesNotContain(install.KioskLog, line => line.Contains(residentCode, StringComparison.Ordinal) || line.Contains("山田", StringComparison.Ordinal));
        Assert.DoesNotContain(install.KioskLog, line => line.Contains(SigningPin, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_resident_changed_after_the_lookup_gets_a_clear_page_and_nothing_on_the_card()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/enrol");
        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes" });
        var cardsBefore = install.Cards.Store.Labels();

        using (var change = await install.Http.PostAsJsonAsync(new Uri(install.SimulatorAddress, "api/v1/changes"), new { residentCode, type = "addressChange", effectiveDate = "2026-01-05", address = "山口県山口市亀山町３－４" }))
        {
            Assert.Equal(201, (int)change.StatusCode);
        }

        await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
        Assert.Equal(409, browser.Status);
        Assert.Contains(KioskText.Japanese.ResidentChanged, browser.Html, StringComparison.Ordinal);
        var newCard = Assert.Single(install.Cards.Store.Labels().Except(cardsBefore));
        Assert.Empty(install.Cards.Certificates(newCard));
    }

    [Fact]
    public async Task Juki_net_down_at_the_lookup_gives_a_clear_page()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/enrol");
        using (var faults = await install.Http.PutAsJsonAsync(new Uri(install.SimulatorAddress, "api/v1/faults"), new { outageRequests = 20 }))
        {
            Assert.True(faults.IsSuccessStatusCode);
        }

        try
        {
            await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        }
        finally
        {
            using var cleared = await install.Http.DeleteAsync(new Uri(install.SimulatorAddress, "api/v1/faults"));
        }

        Assert.Contains(KioskText.Japanese.JukiNetDown, browser.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("name=\"checked\"", browser.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_ca_that_does_not_answer_gives_a_clear_login_page()
    {
        await using var kiosk = KioskHost.Build(
            new KioskOptions { ListenUrl = "http://127.0.0.1:0", CaBaseAddress = new Uri("http://127.0.0.1:9/"), CaTimeout = TimeSpan.FromSeconds(5) },
            install.Cards,
            logging => logging.ClearProviders());
        await kiosk.StartAsync();
        using var browser = new KioskBrowser(new Uri(kiosk.Urls.Single().TrimEnd('/') + "/"));
        await browser.GetAsync("/login");
        await browser.PostAsync("/login", new Dictionary<string, string> { ["account"] = "operator", ["password"] = install.OperatorPassword });
        Assert.Equal(503, browser.Status);
        Assert.Contains(KioskText.Japanese.CaUnreachable, browser.Html, StringComparison.Ordinal);
        await kiosk.StopAsync();
    }

    [Fact]
    public async Task A_locked_card_gets_a_clear_page_and_a_pin_reset_gives_it_new_keys_and_certificates_superseding_the_old()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        var (label, oldSerials) = await browser.EnrolAsync(residentCode, card: "", SigningPin, AuthenticationPin);

        await browser.GetAsync("/card");
        var check = new Dictionary<string, string> { ["card"] = label, ["application"] = "authentication", ["pin"] = "0000" };
        await browser.PostAsync("/card", check);
        Assert.Equal(403, browser.Status);
        Assert.Contains(string.Format(System.Globalization.CultureInfo.InvariantCulture, KioskText.Japanese.WrongPin, 2), browser.Html, StringComparison.Ordinal);
        await browser.PostAsync("/card", check);
        Assert.Contains(string.Format(System.Globalization.CultureInfo.InvariantCulture, KioskText.Japanese.WrongPin, 1), browser.Html, StringComparison.Ordinal);
        await browser.PostAsync("/card", check);
        Assert.Equal(423, browser.Status);
        Assert.Contains(KioskText.Japanese.CardLocked, browser.Html, StringComparison.Ordinal);
        await browser.PostAsync("/card", new Dictionary<string, string> { ["card"] = label, ["application"] = "authentication", ["pin"] = AuthenticationPin });
        Assert.Contains(KioskText.Japanese.CardLocked, browser.Html, StringComparison.Ordinal);
        await browser.PostAsync("/card", new Dictionary<string, string> { ["card"] = label, ["application"] = "signing", ["pin"] = "12" });
        Assert.Contains(KioskText.Japanese.SigningTooShort, browser.Html, StringComparison.Ordinal);

        // PIN reset at the window: the same card, new PINs, new keys and certificates; the old ones superseded.
        var (again, newSerials) = await browser.EnrolAsync(residentCode, card: label, "NEWPIN99", "8642");
        Assert.Equal(label, again);
        Assert.Contains("id=\"replaced\"", browser.Html, StringComparison.Ordinal);
        Assert.Empty(newSerials.Intersect(oldSerials));
        Assert.Equal(newSerials.Order(), install.Cards.Certificates(label).Select(c => c.Serial).Order());
        install.Cards.VerifyPin(label, CardApplication.Authentication, "8642");
        foreach (var serial in oldSerials)
        {
            var status = await install.CertificateAsync(serial);
            Assert.Equal("revoked", status.GetProperty("status").GetString());
            Assert.Equal("superseded", status.GetProperty("reason").GetString());
        }

        foreach (var serial in newSerials)
        {
            Assert.Equal("good", (await install.CertificateAsync(serial)).GetProperty("status").GetString());
        }
    }

    [Fact]
    public async Task Juki_net_down_at_issuance_keeps_the_enrolment_and_a_retry_gets_the_certificates_once()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/enrol");
        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes" });
        var cardsBefore = install.Cards.Store.Labels();
        var issuedBefore = install.IssuedCertificates();
        using (var faults = await install.Http.PutAsJsonAsync(new Uri(install.SimulatorAddress, "api/v1/faults"), new { outageRequests = 50 }))
        {
            Assert.True(faults.IsSuccessStatusCode);
        }

        try
        {
            await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
        }
        finally
        {
            using var cleared = await install.Http.DeleteAsync(new Uri(install.SimulatorAddress, "api/v1/faults"));
        }

        Assert.Equal(503, browser.Status);
        Assert.Contains(KioskText.Japanese.JukiNetDown, browser.Html, StringComparison.Ordinal);
        Assert.Contains("name=\"authenticationPin\"", browser.Html, StringComparison.Ordinal);
        var card = Assert.Single(install.Cards.Store.Labels().Except(cardsBefore));
        Assert.Empty(install.Cards.Certificates(card));

        // The retry sends the same requests under the same Idempotency-Keys, on the same card.
        await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
        Assert.True(browser.Status == 200, browser.Html);
        Assert.Contains("id=\"delivered\"", browser.Html, StringComparison.Ordinal);
        Assert.Equal(card, browser.CardOnPage());
        Assert.Equal(2, install.Cards.Certificates(card).Count);
        Assert.Equal(cardsBefore.Count + 1, install.Cards.Store.Labels().Count);
        Assert.Equal(issuedBefore + 2, install.IssuedCertificates());
    }

    [Fact]
    public async Task Under_15_gets_the_authentication_certificate_only()
    {
        var today = DateTimeOffset.UtcNow.ToOffset(TimeSpan.FromHours(9));
        var residentCode = await install.AddResidentAsync(dateOfBirth: $"{today.Year - 10}-04-01");
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/enrol");
        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        Assert.Contains("id=\"under15\"", browser.Html, StringComparison.Ordinal);
        await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes" });
        Assert.DoesNotContain("name=\"signingPin\"", browser.Html, StringComparison.Ordinal);
        await browser.PostAsync("/enrol/issue", new Dictionary<string, string> { ["authenticationPin"] = "1111", ["authenticationPin2"] = "1111" });
        Assert.True(browser.Status == 200, browser.Html);
        Assert.Single(browser.SerialsOnPage());
        var label = browser.CardOnPage();
        Assert.Equal(CardApplication.Authentication, Assert.Single(install.Cards.Certificates(label)).Application);
    }

    /// <summary>
    /// The kiosk's logout ends the operator's session at the CA too: the CA token the kiosk held
    /// (which a copy of the kiosk's session would carry) no longer authenticates.
    /// </summary>
    [Fact]
    public async Task A_logout_ends_the_operators_session_at_the_ca_too()
    {
        long Live() => install.Scalar("SELECT COUNT(*) FROM sessions WHERE account = 'operator' AND expires_us > @now", new { now = Jpki.Core.Store.Instant.NowMicros(TimeProvider.System) });
        long Ended() => install.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'session.ended' AND actor = 'operator'");
        var (live, ended) = (Live(), Ended());
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        Assert.Equal(live + 1, Live());

        await browser.PostAsync("/logout", new Dictionary<string, string>());
        Assert.Equal(live, Live());
        Assert.Equal(ended + 1, Ended());
        await browser.GetAsync("/enrol");
        Assert.Contains("name=\"password\"", browser.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_password_shows_an_error_and_no_session()
    {
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.GetAsync("/login");
        await browser.PostAsync("/login", new Dictionary<string, string> { ["account"] = "operator", ["password"] = "not-the-password" });
        Assert.Equal(401, browser.Status);
        Assert.Contains(KioskText.Japanese.LoginFailed, browser.Html, StringComparison.Ordinal);
        await browser.GetAsync("/enrol");
        Assert.Contains("name=\"password\"", browser.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_form_post_without_the_antiforgery_token_is_refused()
    {
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.GetAsync("/login");
        await browser.PostAsync("/login", new Dictionary<string, string> { ["account"] = "operator", ["password"] = install.OperatorPassword }, withToken: false);
        Assert.Equal(400, browser.Status);
        Assert.DoesNotContain("id=\"account\"", browser.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_kiosk_switches_to_english_and_marks_its_cookies_httponly_and_samesite_strict()
    {
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.GetAsync("/lang?to=en");
        Assert.Contains("<html lang=\"en\">", browser.Html, StringComparison.Ordinal);
        Assert.Contains(KioskText.English.Login, browser.Html, StringComparison.Ordinal);

        using var http = new HttpClient(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = install.KioskAddress };
        using var page = await http.GetAsync(new Uri("login", UriKind.Relative));
        var cookie = page.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("jpki-kiosk-antiforgery", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        var token = Regex.Match(await page.Content.ReadAsStringAsync(), "name=\"__kiosk_csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("login", UriKind.Relative))
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["account"] = "operator", ["password"] = install.OperatorPassword, ["__kiosk_csrf"] = System.Net.WebUtility.HtmlDecode(token) }),
        };
        request.Headers.Add("Cookie", cookie.Split(';')[0]);
        using var login = await http.SendAsync(request);
        Assert.Equal(302, (int)login.StatusCode);
        var session = login.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("jpki-kiosk-session", StringComparison.Ordinal));
        Assert.Contains("httponly", session, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", session, StringComparison.OrdinalIgnoreCase);
        Assert.True(login.Headers.CacheControl?.NoStore);
    }

    [Theory]
    [InlineData("319850412", "ja", "昭和60年4月12日")]
    [InlineData("420150800", "ja", "平成27年8月日不詳")]
    [InlineData("420150000", "ja", "平成27年月日不詳")]
    [InlineData("419890108", "ja", "平成元年1月8日")]
    [InlineData("319890107", "ja", "昭和64年1月7日")]
    [InlineData("520190501", "ja", "令和元年5月1日")]
    [InlineData("019890000", "ja", "1989年月日不詳")]
    [InlineData("000000000", "ja", "年月日不詳")]
    [InlineData("319850412", "en", "1985-04-12 (Shōwa 60)")]
    [InlineData("420150800", "en", "2015-08, day unknown (Heisei 27)")]
    [InlineData("019890000", "en", "1989, month and day unknown (era unknown)")]
    [InlineData("3198504", "ja", "3198504")]
    [InlineData("319250412", "ja", "319250412")] // 1925 is before 昭和: shown as the register gave it
    public void Dates_of_birth_show_in_wareki_with_unknown_parts_as_the_register_writes_them(string dateOfBirth, string lang, string shown)
    {
        Assert.Equal(shown, JstDates.FormatBirthDate(lang == "ja" ? KioskText.Japanese : KioskText.English, dateOfBirth));
    }

    [Theory]
    [InlineData("2026-12-07T02:30:00+00:00", "ja", "令和8年12月7日 11:30")]
    [InlineData("2019-04-30T14:59:00+00:00", "ja", "平成31年4月30日 23:59")]
    [InlineData("2019-04-30T15:00:00+00:00", "ja", "令和元年5月1日 00:00")]
    [InlineData("2026-12-07T02:30:00+00:00", "en", "2026-12-07 11:30 JST")]
    public void Instants_show_in_jst_and_in_wareki_on_japanese_pages(string instant, string lang, string shown)
    {
        Assert.Equal(shown, JstDates.Format(lang == "ja" ? KioskText.Japanese : KioskText.English, DateTimeOffset.Parse(instant, System.Globalization.CultureInfo.InvariantCulture)));
    }

    [Fact]
    public void Receipts_mask_all_but_the_last_four_digits()
    {
        Assert.Equal("*******8900", Receipt.Mask("12345678900"));
    }

    /// <summary>Lost card: both certificates revoked with keyCompromise, the serials read from the card.</summary>
    private async Task RevokeLostCardAsync(KioskBrowser browser, string residentCode, string label, List<string> serials)
    {
        await browser.GetAsync("/revoke");
        await browser.PostAsync("/revoke", new Dictionary<string, string> { ["residentCode"] = residentCode, ["cause"] = "cardLost", ["card"] = label });
        foreach (var serial in serials)
        {
            Assert.Equal("good", (await install.CertificateAsync(serial)).GetProperty("status").GetString());
        }

        await browser.ConfirmRevocationAsync(serials);
        Assert.True(browser.Status == 200, browser.Html);
        Assert.Equal(2, Regex.Count(browser.Html, "class=\"revoked\""));
        foreach (var serial in serials)
        {
            var status = await install.CertificateAsync(serial);
            Assert.Equal("revoked", status.GetProperty("status").GetString());
            // The CA answers the RFC 5280 reason code: 1 = keyCompromise.
            Assert.Equal("keyCompromise", status.GetProperty("reason").GetString());
        }
    }

    /// <summary>PIN rules come back as clear messages; nothing is issued.</summary>
    private async Task PinRulesRefuseAsync(KioskBrowser browser)
    {
        var issuedBefore = await IssuedCountAsync();
        await browser.PostAsync("/enrol/issue", KioskBrowser.Pins("abc", "abc", "12", "13"));
        Assert.Equal(400, browser.Status);
        Assert.Contains(KioskText.Japanese.SigningTooShort, browser.Html, StringComparison.Ordinal);
        Assert.Contains(KioskText.Japanese.AuthenticationNotFourDigits, browser.Html, StringComparison.Ordinal);
        Assert.Contains(KioskText.Japanese.PinsDiffer, browser.Html, StringComparison.Ordinal);
        await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, "PIN4SIGX", AuthenticationPin, AuthenticationPin));
        Assert.Contains(KioskText.Japanese.PinsDiffer, browser.Html, StringComparison.Ordinal);
        Assert.Equal(issuedBefore, await IssuedCountAsync());
    }

    private async Task<int> IssuedCountAsync()
    {
        await Task.Yield();
        return install.Cards.List().Sum(c => c.Certificates.Count);
    }

}
