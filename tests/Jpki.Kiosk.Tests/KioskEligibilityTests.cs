using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// Issue 21: what the issuance would refuse is refused at the lookup, before a PIN is typed or a
/// key made on a card; revocations at the window happen only after a page naming them is
/// confirmed; and the pages say what is wrong and what to do, never an internal code.
/// Against the real CA, simulator and card tokens.
/// </summary>
[Collection(InstallGroup.Name)]
public sealed partial class KioskEligibilityTests(InstallFixture install)
{
    [Theory]
    [InlineData("moveOut", "movedOut")]
    [InlineData("death", "deceased")]
    [InlineData("deletion", "deleted")]
    public async Task A_resident_whose_record_is_not_current_is_refused_at_the_lookup_and_no_card_is_touched(string change, string status)
    {
        var residentCode = await install.AddResidentAsync();
        using (var changed = await install.Http.PostAsJsonAsync(new Uri(install.SimulatorAddress, "api/v1/changes"), new { residentCode, type = change, effectiveDate = "2026-11-01" }))
        {
            Assert.True(changed.IsSuccessStatusCode, await changed.Content.ReadAsStringAsync());
        }

        // The CA's own rules, in its lookup answer: the same problem type the issuance refuses with.
        var answer = await LookupAsync(residentCode);
        Assert.Equal(status, answer.GetProperty("status").GetString());
        foreach (var kind in new[] { "authentication", "signing" })
        {
            var verdict = answer.GetProperty("eligibility").GetProperty(kind);
            Assert.False(verdict.GetProperty("eligible").GetBoolean());
            Assert.Equal("urn:jpki:problem:resident-not-eligible", verdict.GetProperty("type").GetString());
        }

        var expected = status switch
        {
            "movedOut" => KioskText.Japanese.MovedOut,
            "deceased" => KioskText.Japanese.Deceased,
            _ => KioskText.Japanese.Deleted,
        };
        await RefusedAtLookupAsync(install.KioskAddress, "operator", install.OperatorPassword, residentCode, 422, expected);
    }

    [Fact]
    public async Task A_resident_of_a_municipality_the_operator_does_not_serve_is_refused_at_the_lookup_and_no_card_is_touched()
    {
        var residentCode = await install.AddResidentAsync(municipalityCode: "352012");
        var (ubeOperator, password) = await install.NewOperatorAsync("352039");
        await RefusedAtLookupAsync(install.KioskAddress, ubeOperator, password, residentCode, 403, KioskText.Japanese.NotBound);
    }

    [Fact]
    public async Task An_eligible_resident_is_eligible_for_both_kinds_and_a_child_only_for_authentication_in_the_cas_answer()
    {
        var adult = await LookupAsync(await install.AddResidentAsync());
        Assert.True(adult.GetProperty("eligibility").GetProperty("authentication").GetProperty("eligible").GetBoolean());
        Assert.True(adult.GetProperty("eligibility").GetProperty("signing").GetProperty("eligible").GetBoolean());
        Assert.Equal("山口市", adult.GetProperty("municipalityNameJa").GetString());

        var today = DateTimeOffset.UtcNow.ToOffset(TimeSpan.FromHours(9));
        var child = await LookupAsync(await install.AddResidentAsync(dateOfBirth: $"{today.Year - 10}-04-01"));
        Assert.True(child.GetProperty("eligibility").GetProperty("authentication").GetProperty("eligible").GetBoolean());
        Assert.Equal("urn:jpki:problem:under-15", child.GetProperty("eligibility").GetProperty("signing").GetProperty("type").GetString());
    }

    [Fact]
    public async Task A_wrong_check_digit_says_so_and_what_to_do_and_no_internal_code_is_shown()
    {
        var residentCode = await install.AddResidentAsync();
        var wrong = residentCode[..10] + (char)('0' + ((residentCode[10] - '0' + 1) % 10));
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        var reads = install.Scalar("SELECT COUNT(*) FROM resident_reads");

        await browser.GetAsync("/enrol");
        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = wrong });
        Assert.Equal(400, browser.Status);
        Assert.Contains(KioskText.Japanese.ResidentCodeCheckDigit, browser.Html, StringComparison.Ordinal);
        Assert.DoesNotMatch(InternalCode(), browser.Html);

        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = "1234" });
        Assert.Equal(400, browser.Status);
        Assert.Contains(KioskText.Japanese.ResidentCodeInvalid, browser.Html, StringComparison.Ordinal);

        await browser.GetAsync("/revoke");
        await browser.PostAsync("/revoke", new Dictionary<string, string> { ["residentCode"] = wrong, ["cause"] = "cardLost" });
        Assert.Equal(400, browser.Status);
        Assert.Contains(KioskText.Japanese.ResidentCodeCheckDigit, browser.Html, StringComparison.Ordinal);

        // Caught at the window: the CA was never asked.
        Assert.Equal(reads, install.Scalar("SELECT COUNT(*) FROM resident_reads"));
    }

    [Fact]
    public async Task A_revocation_names_each_certificate_and_revokes_nothing_until_confirmed_and_nothing_when_cancelled()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        var (label, serials) = await browser.EnrolAsync(residentCode, card: "", "PIN4SIGN", "4321");

        // A new enrolment's lookup names the certificates the resident already holds, and why they matter.
        await browser.GetAsync("/enrol");
        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        Assert.Contains(KioskText.Japanese.ExistingCertificatesNote, browser.Html, StringComparison.Ordinal);
        Assert.Equal(serials.Order(), ExistingSerial().Matches(browser.Html).Select(m => m.Groups[1].Value).Order());

        // Asked by the resident code alone: the page names both, with kind and validity; nothing is revoked.
        await browser.GetAsync("/revoke");
        await browser.PostAsync("/revoke", new Dictionary<string, string> { ["residentCode"] = residentCode, ["cause"] = "noLongerNeeded" });
        Assert.True(browser.Status == 200, browser.Html);
        Assert.Contains(KioskText.Japanese.RevokeConfirmLead, browser.Html, StringComparison.Ordinal);
        Assert.Contains(KioskText.Japanese.SigningCertificate, browser.Html, StringComparison.Ordinal);
        Assert.Contains(KioskText.Japanese.AuthenticationCertificate, browser.Html, StringComparison.Ordinal);
        Assert.Equal(2, Regex.Count(browser.Html, "<td class=\"validity\">令和\\d+年\\d+月\\d+日 \\d\\d:\\d\\d – 令和\\d+年\\d+月\\d+日 23:59</td>"));
        Assert.Equal(2, Regex.Count(browser.Html, "<tr class=\"to-revoke\">"));
        await AllGoodAsync(serials);

        // Cancelled: nothing revoked, and the cancelled page cannot be confirmed afterwards.
        var cancelledPage = browser.Html;
        await browser.PostAsync("/revoke/cancel", new Dictionary<string, string>());
        Assert.True(browser.Status == 200, browser.Html);
        Assert.Contains(KioskText.Japanese.RevokeCancelled, browser.Html, StringComparison.Ordinal);
        await AllGoodAsync(serials);
        var stalePending = PendingId().Match(cancelledPage).Groups[1].Value;
        await browser.PostAsync("/revoke/confirm", new Dictionary<string, string> { ["pending"] = stalePending });
        Assert.Equal(409, browser.Status);
        Assert.Contains(KioskText.Japanese.RevokeNothingPending, browser.Html, StringComparison.Ordinal);
        await AllGoodAsync(serials);

        // One serial typed (the other left out): only that one is named, and only that one is revoked.
        await browser.GetAsync("/revoke");
        await browser.PostAsync("/revoke", new Dictionary<string, string> { ["residentCode"] = residentCode, ["cause"] = "noLongerNeeded", ["serial1"] = serials[0] });
        await browser.ConfirmRevocationAsync([serials[0]]);
        Assert.Equal(1, Regex.Count(browser.Html, "class=\"revoked\""));
        Assert.Equal("revoked", (await install.CertificateAsync(serials[0])).GetProperty("status").GetString());
        Assert.Equal("good", (await install.CertificateAsync(serials[1])).GetProperty("status").GetString());

        // The card's two: the revoked one is shown as not to be revoked, the confirmation revokes the other.
        await browser.GetAsync("/revoke");
        await browser.PostAsync("/revoke", new Dictionary<string, string> { ["residentCode"] = residentCode, ["cause"] = "cardLost", ["card"] = label });
        Assert.Equal(1, Regex.Count(browser.Html, "<tr class=\"not-revocable\">"));
        Assert.Contains(KioskText.Japanese.NotRevocable + ": " + KioskText.Japanese.AlreadyRevoked, browser.Html, StringComparison.Ordinal);
        await browser.ConfirmRevocationAsync([serials[1]]);
        Assert.Equal("revoked", (await install.CertificateAsync(serials[1])).GetProperty("status").GetString());

        // Nothing is waiting any more: a confirmation revokes nothing.
        await browser.GetAsync("/revoke");
        await browser.PostAsync("/revoke/confirm", new Dictionary<string, string> { ["pending"] = "0" });
        Assert.Equal(409, browser.Status);
    }

    [Fact]
    public async Task An_unknown_serial_is_named_as_not_to_be_revoked_without_a_raw_code()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/revoke");
        await browser.PostAsync("/revoke", new Dictionary<string, string> { ["residentCode"] = residentCode, ["cause"] = "cardLost", ["serial1"] = "0badc0de" });
        Assert.True(browser.Status == 200, browser.Html);
        Assert.Contains(KioskText.Japanese.NotRevocable + ": " + KioskText.Japanese.CertificateNotFound, browser.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("name=\"pending\"", browser.Html, StringComparison.Ordinal);
        Assert.DoesNotMatch(InternalCode(), browser.Html);
    }

    [Fact]
    public async Task The_pin_check_keeps_the_card_and_application_of_the_last_try()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        var (label, _) = await browser.EnrolAsync(residentCode, card: "", "PIN4SIGN", "4321");

        await browser.GetAsync("/card");
        await browser.PostAsync("/card", new Dictionary<string, string> { ["card"] = label, ["application"] = "signing", ["pin"] = "PIN4SIGN" });
        Assert.Contains("id=\"pin-ok\"", browser.Html, StringComparison.Ordinal);
        Assert.Matches($"<option value=\"{label}\" selected(=\"[^\"]*\")?>", browser.Html);
        Assert.Matches("<option value=\"signing\" selected(=\"[^\"]*\")?>", browser.Html);

        await browser.PostAsync("/card", new Dictionary<string, string> { ["card"] = label, ["application"] = "authentication", ["pin"] = "0000" });
        Assert.Equal(403, browser.Status);
        Assert.Matches($"<option value=\"{label}\" selected(=\"[^\"]*\")?>", browser.Html);
        Assert.Matches("<option value=\"authentication\" selected(=\"[^\"]*\")?>", browser.Html);
    }

    /// <summary>Logs in, looks the resident up, and checks the refusal: no confirmation, no enrolment, no card, no certificate.</summary>
    private async Task RefusedAtLookupAsync(Uri kiosk, string account, string password, string residentCode, int status, string message)
    {
        using var browser = new KioskBrowser(kiosk);
        await browser.LoginAsync(account, password);
        var cardsBefore = install.Cards.Store.Labels();
        var issuedBefore = install.IssuedCertificates();

        await browser.GetAsync("/enrol");
        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        Assert.True(browser.Status == status, browser.Html);
        Assert.Contains(message, browser.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("name=\"checked\"", browser.Html, StringComparison.Ordinal);
        Assert.DoesNotMatch(InternalCode(), browser.Html);

        // No enrolment was kept: the confirmation and the PINs go back to the lookup, and no card is made.
        await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes" });
        Assert.Contains("name=\"residentCode\"", browser.Html, StringComparison.Ordinal);
        await browser.PostAsync("/enrol/issue", KioskBrowser.Pins("PIN4SIGN", "PIN4SIGN", "4321", "4321"));
        Assert.Contains("name=\"residentCode\"", browser.Html, StringComparison.Ordinal);
        Assert.Equal(cardsBefore, install.Cards.Store.Labels());
        Assert.Equal(issuedBefore, install.IssuedCertificates());
    }

    private async Task<JsonElement> LookupAsync(string residentCode)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(install.CaAddress, "api/v1/residents/lookup"))
        {
            Content = JsonContent.Create(new { residentCode, purpose = "eligibility test" }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", install.OperatorToken);
        using var response = await install.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private async Task AllGoodAsync(IEnumerable<string> serials)
    {
        foreach (var serial in serials)
        {
            Assert.Equal("good", (await install.CertificateAsync(serial)).GetProperty("status").GetString());
        }
    }

    /// <summary>What people at the window must never read: a problem type or a bare HTTP status.</summary>
    [GeneratedRegex(@"\((invalid-request|[a-z]+(-[a-z0-9]+)+|HTTP \d{3})\)")]
    private static partial Regex InternalCode();

    [GeneratedRegex("<td class=\"existing-serial\">([0-9a-f]+)</td>")]
    private static partial Regex ExistingSerial();

    [GeneratedRegex("name=\"pending\" value=\"([0-9a-f]+)\"")]
    private static partial Regex PendingId();
}
