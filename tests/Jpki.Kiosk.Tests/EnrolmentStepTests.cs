using System.Net.Http.Json;

namespace Jpki.Kiosk.Tests;

/// <summary>The enrolment flow's order of steps as the window enforces it, against the real CA, simulator and card tokens.</summary>
[Collection(InstallGroup.Name)]
public sealed class EnrolmentStepTests(InstallFixture install)
{
    private const string SigningPin = "PIN4SIGN";
    private const string AuthenticationPin = "4321";

    [Fact]
    public async Task A_confirmation_posted_again_after_the_keys_were_made_is_refused_and_the_enrolment_goes_on_with_the_same_card()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/enrol");
        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes" });
        var cardsBefore = install.Cards.Store.Labels();

        // Juki-Net down at issuance: the keys are on the new card, nothing is issued.
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
        var card = Assert.Single(install.Cards.Store.Labels().Except(cardsBefore));

        // Back in the browser: the confirmation again, now with no card chosen. Refused; the PINs page.
        await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes", ["card"] = "" });
        Assert.Equal(409, browser.Status);
        Assert.Contains(KioskText.Japanese.AlreadyPersonalised, browser.Html, StringComparison.Ordinal);
        Assert.Contains("name=\"authenticationPin\"", browser.Html, StringComparison.Ordinal);

        await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
        Assert.True(browser.Status == 200, browser.Html);
        Assert.Contains("id=\"delivered\"", browser.Html, StringComparison.Ordinal);
        Assert.Equal(card, browser.CardOnPage());
        Assert.Equal(2, install.Cards.Certificates(card).Count);
        Assert.Equal(cardsBefore.Count + 1, install.Cards.Store.Labels().Count);
    }

    [Fact]
    public async Task The_pins_before_the_confirmation_send_the_operator_back_to_the_lookup()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/enrol");
        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
        var cardsBefore = install.Cards.Store.Labels();

        await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));

        Assert.Equal(200, browser.Status);
        Assert.Contains("name=\"residentCode\"", browser.Html, StringComparison.Ordinal);
        Assert.Equal(cardsBefore, install.Cards.Store.Labels());
    }
}
