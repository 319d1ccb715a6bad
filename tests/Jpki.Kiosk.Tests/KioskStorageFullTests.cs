using Jpki.Card;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// Issue 20: the CA's store disk is full and it answers issuance with 503 <c>storage-full</c>
/// (decision 0252), here through <see cref="CaProxy"/> in front of a real CA instance. The window
/// shows a plain Japanese sentence (nothing issued, nothing written to the card, try again later)
/// and no code; the enrolment is kept; once the CA has space the retry finishes it once.
/// </summary>
[Collection(InstallGroup.Name)]
public sealed class KioskStorageFullTests(InstallFixture install)
{
    private const string SigningPin = "PIN4SIGN";
    private const string AuthenticationPin = "4321";

    [Fact]
    public async Task A_ca_with_a_full_disk_gives_a_plain_japanese_page_writes_nothing_to_the_card_and_the_retry_finishes_once()
    {
        var residentCode = await install.AddResidentAsync();
        await using var proxy = await CaProxy.StartAsync(install.CaAddress);
        var (kiosk, address) = await install.StartKioskAsync(new KioskOptions { CaBaseAddress = proxy.Address, WindowId = "FULLKIOSK", CaTimeout = TimeSpan.FromSeconds(10) });
        await using (kiosk)
        {
            using var browser = new KioskBrowser(address);
            await browser.LoginAsync("operator", install.OperatorPassword);
            await browser.GetAsync("/enrol");
            await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
            Assert.True(browser.Status == 200, browser.Html);
            await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes" });
            var cardsBefore = install.Cards.Store.Labels();
            var issuedBefore = install.IssuedCertificates();

            // Every issuance is refused for a while: the window tries twice, as an operator would.
            proxy.StorageFullIssuances = 2;
            var pages = new List<(int Status, string Html)>();
            for (var i = 0; i < 2; i++)
            {
                await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
                pages.Add((browser.Status, browser.Html));
            }

            Assert.Equal(2, proxy.StorageFullAnswered);
            foreach (var (status, html) in pages)
            {
                Assert.Equal(503, status);
                Assert.Contains(KioskText.Japanese.CaCannotIssueNow, html, StringComparison.Ordinal);
                Assert.Contains("何も発行されていません", KioskText.Japanese.CaCannotIssueNow, StringComparison.Ordinal);
                // No internal code or problem type for the people at the window.
                foreach (var code in new[] { "storage-full", "urn:jpki", "Retry-After", "storage full" })
                {
                    Assert.DoesNotContain(code, html, StringComparison.OrdinalIgnoreCase);
                }

                // The enrolment is kept: the PINs form again, for the retry.
                Assert.Contains("name=\"authenticationPin\"", html, StringComparison.Ordinal);
            }

            // Nothing issued; the card got its keys (its requests are the retry's) and no certificate.
            Assert.Equal(issuedBefore, install.IssuedCertificates());
            var card = Assert.Single(install.Cards.Store.Labels().Except(cardsBefore));
            Assert.Empty(install.Cards.Certificates(card));

            // Space is back: the retry, on the same card with the same requests, finishes the enrolment once.
            await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
            Assert.True(browser.Status == 200, browser.Html);
            Assert.Contains("id=\"delivered\"", browser.Html, StringComparison.Ordinal);
            Assert.Equal(card, browser.CardOnPage());
            var onCard = install.Cards.Certificates(card);
            Assert.Equal(2, onCard.Count);
            Assert.Contains(onCard, c => c.Application == CardApplication.Signing);
            Assert.Equal(issuedBefore + 2, install.IssuedCertificates());
            Assert.Single(install.Cards.Store.Labels().Except(cardsBefore));
            AccessMatrix.Report($"fault disk-full kiosk: 2 of 2 issuances answered 503 storage-full by the CA shown as a Japanese sentence (nothing issued, nothing on the card, try again), no code on the page; the enrolment kept; the retry delivered 2 certificates onto the same card, issued once");
            await kiosk.StopAsync();
        }
    }
}
