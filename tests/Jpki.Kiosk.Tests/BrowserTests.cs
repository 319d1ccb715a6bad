using Jpki.Card;
using Microsoft.Playwright;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// The whole window in a real browser (Debian's chromium driven by Playwright): an enrolment and
/// a lost-card revocation, a screenshot of every page kept under screenshots/ in the test output;
/// then the card is checked with the card software, openssl and <c>jpki card sign</c>.
/// </summary>
[Collection(InstallGroup.Name)]
public sealed class BrowserTests(InstallFixture install)
{
    private const string ChromiumPath = "/usr/bin/chromium";
    private const string SigningPin = "BROWSER2026";
    private const string AuthenticationPin = "2468";

    private readonly string screenshots = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "screenshots")).FullName;

    [Fact]
    public async Task An_operator_enrols_a_resident_and_revokes_the_lost_card_in_a_browser()
    {
        Assert.True(File.Exists(ChromiumPath), "Debian's chromium is needed (apt-get install chromium); ./jpki test installs it");
        var residentCode = await install.AddResidentAsync();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox"],
        });
        var page = await browser.NewPageAsync();
        page.SetDefaultTimeout(30_000);

        var (label, serials) = await EnrolAsync(page, residentCode);

        // The card holds both certificates and both keys, never extractable.
        var onCard = install.Cards.Certificates(label);
        Assert.Equal(serials.Order(), onCard.Select(c => c.Serial).Order());
        foreach (var (application, pin) in new[] { (CardApplication.Signing, SigningPin), (CardApplication.Authentication, AuthenticationPin) })
        {
            var key = install.Cards.DescribeKey(label, application, pin);
            Assert.False(key.Extractable);
            Assert.True(key.NeverExtractable);
            Assert.True(key.Sensitive);
        }

        await VerifyWithOpensslAsync(onCard, label);

        // Lost card, in the browser: both certificates revoked.
        await page.GotoAsync(new Uri(install.KioskAddress, "revoke").ToString());
        await page.FillAsync("#residentCode", residentCode);
        await page.SelectOptionAsync("#cause", "cardLost");
        await page.FillAsync("#serial1", serials[0]);
        await page.FillAsync("#serial2", serials[1]);
        await Shot(page, "05-lost-card");
        await page.ClickAsync("#revoke");
        await page.WaitForSelectorAsync("#revocations");
        await Shot(page, "06-revoked");
        Assert.Equal(2, await page.Locator("li.revoked").CountAsync());

        // A wrong PIN on the card check page: a clear sentence with the tries left.
        await page.GotoAsync(new Uri(install.KioskAddress, "card").ToString());
        await page.SelectOptionAsync("#card", label);
        await page.SelectOptionAsync("#application", "authentication");
        await page.FillAsync("#pin", "0000");
        await page.ClickAsync("#check");
        Assert.Contains(string.Format(System.Globalization.CultureInfo.InvariantCulture, KioskText.Japanese.WrongPin, 2), await page.InnerTextAsync("main"), StringComparison.Ordinal);
        await Shot(page, "07-wrong-pin");

        // English switch.
        await page.ClickAsync("#lang");
        Assert.Equal("en", await page.GetAttributeAsync("html", "lang"));
        await Shot(page, "08-english");
    }

    /// <summary>Login, lookup, the face-to-face check, a PIN refused by its rule, then the PINs and the receipt; returns the card and serials on it.</summary>
    private async Task<(string Label, List<string> Serials)> EnrolAsync(IPage page, string residentCode)
    {
        await page.GotoAsync(new Uri(install.KioskAddress, "login").ToString());
        await Shot(page, "01-login");
        await page.FillAsync("#account", "operator");
        await page.FillAsync("#password", install.OperatorPassword);
        await page.ClickAsync("#login");
        await page.ClickAsync("#enrol");
        await page.FillAsync("#residentCode", residentCode);
        await page.ClickAsync("#lookup");
        Assert.Equal("山田　花子", await page.InnerTextAsync("#name"));
        await Shot(page, "02-four-facts");
        await page.CheckAsync("#checked");
        await page.ClickAsync("#confirm");

        await page.FillAsync("#signingPin", "short");
        await page.FillAsync("#signingPin2", "short");
        await page.FillAsync("#authenticationPin", AuthenticationPin);
        await page.FillAsync("#authenticationPin2", AuthenticationPin);
        await page.ClickAsync("#issue");
        Assert.Contains(KioskText.Japanese.SigningTooShort, await page.InnerTextAsync("main"), StringComparison.Ordinal);
        await Shot(page, "03-pin-rule-message");

        await page.FillAsync("#signingPin", SigningPin);
        await page.FillAsync("#signingPin2", SigningPin);
        await page.FillAsync("#authenticationPin", AuthenticationPin);
        await page.FillAsync("#authenticationPin2", AuthenticationPin);
        await page.ClickAsync("#issue");
        await page.WaitForSelectorAsync("#delivered");
        await Shot(page, "04-receipt");
        var receipt = await page.ContentAsync();
        Assert.DoesNotContain(residentCode, receipt, StringComparison.Ordinal);
        var label = await page.InnerTextAsync("#card");
        var serials = (await page.Locator("td.serial").AllInnerTextsAsync()).ToList();
        Assert.Equal(2, serials.Count);
        return (label, serials);
    }

    /// <summary>openssl accepts each certificate against its root, and a signature made with the card.</summary>
    private async Task VerifyWithOpensslAsync(IReadOnlyList<CardCertificate> onCard, string label)
    {
        var work = Directory.CreateTempSubdirectory("jpki-browser-").FullName;
        var issuers = await install.Http.GetStringAsync(new Uri(install.CaAddress, "api/v1/issuers"));
        foreach (var certificate in onCard)
        {
            var pem = Path.Combine(work, certificate.Serial + ".pem");
            await File.WriteAllTextAsync(pem, CardReader.Pem("CERTIFICATE", certificate.Der));
            var root = RootFor(issuers, certificate.Application, work);
            var verified = ExternalProcess.RunWith("openssl", ["verify", "-CAfile", root, pem]);
            Assert.True(verified.ExitCode == 0, verified.Stdout + verified.Stderr);
        }

        var document = Path.Combine(work, "doc.pdf");
        await File.WriteAllTextAsync(document, "%PDF-1.4 signed at home with the new card\n");
        var pinFile = Path.Combine(work, "pin");
        await File.WriteAllTextAsync(pinFile, SigningPin + "\n");
        var signature = Path.Combine(work, "doc.p7s");
        var signed = install.RunCard("sign", "--card", label, "--in", document, "--out", signature, "--pin-file", pinFile);
        Assert.True(signed.ExitCode == 0, signed.Stderr);
        var cms = ExternalProcess.RunWith("openssl", ["cms", "-verify", "-binary", "-content", document, "-inform", "DER", "-in", signature, "-CAfile", RootFor(issuers, CardApplication.Signing, work), "-purpose", "any", "-out", "/dev/null"]);
        Assert.True(cms.ExitCode == 0, cms.Stderr);
    }

    private async Task Shot(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(screenshots, name + ".png"), FullPage = true });

    /// <summary>Writes the root certificate of the issuer of this kind (from GET /api/v1/issuers) to a PEM file.</summary>
    private static string RootFor(string issuersJson, CardApplication application, string directory)
    {
        using var issuers = System.Text.Json.JsonDocument.Parse(issuersJson);
        var kind = application == CardApplication.Signing ? "signing" : "authentication";
        var issuer = issuers.RootElement.EnumerateArray().First(i => i.GetProperty("kind").GetString() == kind);
        var path = Path.Combine(directory, kind + "-root.pem");
        File.WriteAllText(path, issuer.GetProperty("certificatePem").GetString());
        return path;
    }
}
