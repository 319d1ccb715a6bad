using System.Net.Http.Json;
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

    // The docs show every page as the tests last saw it (issue 21): docs/kiosk-screenshots/ in the
    // source tree, found from the test's output directory; none when the tests run outside it.
    private readonly string? docsScreenshots = FindDocs();

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
        // The kiosk's screen: 1024×768, every page must fit its width.
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1024, Height = 768 } });
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
        await Shot(page, "07-lost-card");
        await page.ClickAsync("#revoke");

        // Nothing is revoked before the page naming both is confirmed.
        await page.WaitForSelectorAsync("#to-revoke");
        Assert.Equal(2, await page.Locator("tr.to-revoke").CountAsync());
        Assert.Equal("good", (await install.CertificateAsync(serials[0])).GetProperty("status").GetString());
        await Shot(page, "08-revoke-confirm");
        await page.ClickAsync("#confirm-revoke");
        await page.WaitForSelectorAsync("#revocations");
        await Shot(page, "09-revoked");
        Assert.Equal(2, await page.Locator("li.revoked").CountAsync());

        // A wrong PIN on the card check page: a clear sentence with the tries left, the same card still chosen.
        await page.GotoAsync(new Uri(install.KioskAddress, "card").ToString());
        await page.SelectOptionAsync("#card", label);
        await page.SelectOptionAsync("#application", "authentication");
        await page.FillAsync("#pin", "0000");
        await page.ClickAsync("#check");
        Assert.Contains(string.Format(System.Globalization.CultureInfo.InvariantCulture, KioskText.Japanese.WrongPin, 2), await page.InnerTextAsync("main"), StringComparison.Ordinal);
        Assert.Equal(label, await page.InputValueAsync("#card"));
        Assert.Equal("authentication", await page.InputValueAsync("#application"));
        await Shot(page, "10-wrong-pin");

        // A moved-out resident is refused at the lookup, before any PIN.
        var movedOut = await install.AddResidentAsync();
        using (var change = await install.Http.PostAsJsonAsync(new Uri(install.SimulatorAddress, "api/v1/changes"), new { residentCode = movedOut, type = "moveOut", effectiveDate = "2026-11-01" }))
        {
            Assert.True(change.IsSuccessStatusCode);
        }

        await page.GotoAsync(new Uri(install.KioskAddress, "enrol").ToString());
        await page.FillAsync("#residentCode", movedOut);
        await page.ClickAsync("#lookup");
        Assert.Contains(KioskText.Japanese.MovedOut, await page.InnerTextAsync("main"), StringComparison.Ordinal);
        Assert.Equal(0, await page.Locator("#checked").CountAsync());
        await Shot(page, "11-moved-out");

        // A typo in the check digit.
        await page.FillAsync("#residentCode", movedOut[..10] + (char)('0' + ((movedOut[10] - '0' + 1) % 10)));
        await page.ClickAsync("#lookup");
        Assert.Contains(KioskText.Japanese.ResidentCodeCheckDigit, await page.InnerTextAsync("main"), StringComparison.Ordinal);
        await Shot(page, "12-check-digit");

        // English switch.
        await page.ClickAsync("#lang");
        Assert.Equal("en", await page.GetAttributeAsync("html", "lang"));
        await Shot(page, "13-english-menu");

        // No page is wider than the kiosk's screen.
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= 1024"));
    }

    /// <summary>Login, lookup, the face-to-face check, a PIN refused by its rule, then the PINs and the receipt; returns the card and serials on it.</summary>
    private async Task<(string Label, List<string> Serials)> EnrolAsync(IPage page, string residentCode)
    {
        await page.GotoAsync(new Uri(install.KioskAddress, "login").ToString());
        await Shot(page, "01-login");

        // Keyboard only: Tab reaches the fields in order, Enter submits.
        await TabToAsync(page, "account");
        await page.Keyboard.TypeAsync("operator");
        await TabToAsync(page, "password");
        await page.Keyboard.TypeAsync(install.OperatorPassword);
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForSelectorAsync("#enrol");
        await Shot(page, "02-menu");
        await page.ClickAsync("#enrol");
        await Shot(page, "03-lookup");
        await page.FillAsync("#residentCode", residentCode);
        await page.ClickAsync("#lookup");
        Assert.Equal("山田　花子", await page.InnerTextAsync("#name"));
        Assert.Equal("昭和55年5月17日", await page.InnerTextAsync("#date-of-birth"));
        Assert.Equal("山口市", await page.InnerTextAsync("#municipality"));
        Assert.Equal(KioskText.Japanese.StepConfirm, (await page.InnerTextAsync("ol.steps li[aria-current=step]")).Trim());
        await Shot(page, "04-four-facts");
        await page.CheckAsync("#checked");
        await page.ClickAsync("#confirm");

        await page.FillAsync("#signingPin", "short");
        await page.FillAsync("#signingPin2", "short");
        await page.FillAsync("#authenticationPin", AuthenticationPin);
        await page.FillAsync("#authenticationPin2", AuthenticationPin);
        await page.ClickAsync("#issue");
        Assert.Contains(KioskText.Japanese.SigningTooShort, await page.InnerTextAsync("main"), StringComparison.Ordinal);
        await Shot(page, "05-pin-rule-message");

        await page.FillAsync("#signingPin", SigningPin);
        await page.FillAsync("#signingPin2", SigningPin);
        await page.FillAsync("#authenticationPin", AuthenticationPin);
        await page.FillAsync("#authenticationPin2", AuthenticationPin);
        await page.ClickAsync("#issue");
        await page.WaitForSelectorAsync("#delivered");
        await Shot(page, "06-receipt");
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

    private async Task Shot(IPage page, string name)
    {
        var path = Path.Combine(screenshots, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        if (docsScreenshots is not null)
        {
            File.Copy(path, Path.Combine(docsScreenshots, name + ".png"), overwrite: true);
        }
    }

    /// <summary>Presses Tab until the element with <paramref name="id"/> has the focus (at most 20 times).</summary>
    private static async Task TabToAsync(IPage page, string id)
    {
        for (var i = 0; i < 20 && await page.EvaluateAsync<string>("document.activeElement ? document.activeElement.id : ''") != id; i++)
        {
            await page.Keyboard.PressAsync("Tab");
        }

        Assert.Equal(id, await page.EvaluateAsync<string>("document.activeElement.id"));
    }

    /// <summary>docs/kiosk-screenshots/ of the source tree the test was built from, or null when the output is not inside one.</summary>
    private static string? FindDocs()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "JPKI.sln")))
            {
                return Directory.CreateDirectory(Path.Combine(directory.FullName, "docs", "kiosk-screenshots")).FullName;
            }
        }

        return null;
    }

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
