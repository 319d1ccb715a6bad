namespace Jpki.Kiosk.Tests;

/// <summary>
/// The Razor views as a browser and a reader get them: Japanese as characters (the encoder
/// registered from WebEncoderOptions), markup in values encoded, the page frame's security
/// headers, and the element ids and fields the window's forms rely on.
/// </summary>
[Collection(InstallGroup.Name)]
public sealed class KioskViewTests(InstallFixture install)
{
    [Fact]
    public async Task Japanese_text_is_written_as_characters_not_character_references()
    {
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);

        await browser.GetAsync("/card");

        Assert.Equal(200, browser.Status);
        Assert.Contains("<html lang=\"ja\">", browser.Html, StringComparison.Ordinal);
        Assert.Contains("<option value=\"authentication\">利用者証明用電子証明書</option>", browser.Html, StringComparison.Ordinal);
        Assert.Contains($"<title>{KioskText.Japanese.CardCheck} — {KioskText.Japanese.Title}</title>", browser.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("&#x", browser.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_four_facts_show_as_written_except_the_ideographic_space_which_the_encoder_always_escapes()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/enrol");

        await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });

        Assert.True(browser.Status == 200, browser.Html);
        // U+3000 is a space (category Zs): System.Text.Encodings.Web escapes every non-ASCII space
        // whatever the allowed ranges; a browser shows the same character.
        Assert.Contains("<td id=\"name\">山田&#x3000;花子</td>", browser.Html, StringComparison.Ordinal);
        Assert.Contains("<td>山口県山口市亀山町１－２</td>", browser.Html, StringComparison.Ordinal);
        Assert.Contains("<td id=\"date-of-birth\">昭和55年5月17日</td>", browser.Html, StringComparison.Ordinal);
        Assert.Contains("<input type=\"checkbox\" name=\"checked\" id=\"checked\" value=\"yes\">", browser.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Markup_in_a_value_the_operator_typed_is_encoded()
    {
        var residentCode = await install.AddResidentAsync();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.LoginAsync("operator", install.OperatorPassword);
        await browser.GetAsync("/revoke");

        await browser.PostAsync("/revoke", new Dictionary<string, string> { ["residentCode"] = residentCode, ["cause"] = "cardLost", ["serial1"] = "\"><script>alert(1)</script>" });

        Assert.Equal(200, browser.Status);
        Assert.Contains("<td class=\"serial\">&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</td>", browser.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", browser.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_page_keeps_the_security_headers_and_the_english_switch()
    {
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = install.KioskAddress };
        using var page = await http.GetAsync(new Uri("login", UriKind.Relative));

        Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType?.ToString());
        Assert.Equal(
            "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            Assert.Single(page.Headers.GetValues("Content-Security-Policy")));
        Assert.Equal("DENY", Assert.Single(page.Headers.GetValues("X-Frame-Options")));
        Assert.Equal("nosniff", Assert.Single(page.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("no-referrer", Assert.Single(page.Headers.GetValues("Referrer-Policy")));
        Assert.True(page.Headers.CacheControl?.NoStore);

        using var english = new HttpRequestMessage(HttpMethod.Get, new Uri("login", UriKind.Relative));
        english.Headers.Add("Cookie", $"{KioskPages.LanguageCookie}=en");
        using var englishPage = await http.SendAsync(english);
        var html = await englishPage.Content.ReadAsStringAsync();
        Assert.Contains("<html lang=\"en\">", html, StringComparison.Ordinal);
        Assert.Contains($"<button type=\"submit\" name=\"login\" id=\"login\">{KioskText.English.Login}</button>", html, StringComparison.Ordinal);
        Assert.Contains("<a class=\"lang\" href=\"/lang?to=ja\" id=\"lang\" lang=\"ja\">日本語</a>", html, StringComparison.Ordinal);
    }
}
