using Jpki.Card;
using Jpki.Kiosk;
using Xunit.Abstractions;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// The kiosk is the municipal operators' and no one else's: other roles cannot log in, and an
/// operator touches only the cards of residents of their own municipalities (a wrong PIN counts
/// against the card). Tried as an insider would, against the real kiosk, CA and card tokens.
/// </summary>
[Collection(InstallGroup.Name)]
public sealed class KioskAccessTests(InstallFixture install, ITestOutputHelper output)
{
    [Theory]
    [InlineData("officer1")]
    [InlineData("auditor")]
    [InlineData("verifier")]
    public async Task Other_roles_cannot_log_in_and_reach_no_page(string account)
    {
        var password = File.ReadAllText(Path.Combine(install.Home, "secrets", account + ".password")).Trim();
        using var browser = new KioskBrowser(install.KioskAddress);
        await browser.GetAsync("/login");
        await browser.PostAsync("/login", new Dictionary<string, string> { ["account"] = account, ["password"] = password });
        Assert.Equal(403, browser.Status);
        Assert.Contains(KioskText.Japanese.OperatorsOnly, browser.Html, StringComparison.Ordinal);
        foreach (var page in new[] { "/card", "/enrol", "/revoke", "/" })
        {
            await browser.GetAsync(page);
            Assert.Contains("name=\"password\"", browser.Html, StringComparison.Ordinal);
            Assert.DoesNotContain("CARD-", browser.Html, StringComparison.Ordinal);
        }

        Assert.Contains(install.KioskLog, l => l.Contains("Jpki.Refusals", StringComparison.Ordinal) && l.Contains("kiosk admits operators only", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_operator_of_another_municipality_cannot_try_a_pin_on_a_residents_card()
    {
        var residentCode = await install.AddResidentAsync(municipalityCode: "352012");
        using var yamaguchi = new KioskBrowser(install.KioskAddress);
        await yamaguchi.LoginAsync("operator", install.OperatorPassword);
        var (label, _) = await yamaguchi.EnrolAsync(residentCode, card: "", "PIN4SIGN", "4321");
        Assert.Equal("352012", install.Cards.Store.Load(label).MunicipalityCode);

        var (ubeOperator, ubePassword) = await install.NewOperatorAsync("352039");
        using var ube = new KioskBrowser(install.KioskAddress);
        await ube.LoginAsync(ubeOperator, ubePassword);
        await ube.GetAsync("/card");
        Assert.DoesNotContain(label, ube.Html, StringComparison.Ordinal);
        var before = install.Cards.Store.Load(label);
        await ube.PostAsync("/card", new Dictionary<string, string> { ["card"] = label, ["application"] = "authentication", ["pin"] = "0000" });
        Assert.Equal(403, ube.Status);
        Assert.Contains(KioskText.Japanese.CardNotYours, ube.Html, StringComparison.Ordinal);
        Assert.Equal(before.AuthenticationWrongTries, install.Cards.Store.Load(label).AuthenticationWrongTries);

        // The holder's own municipality's operator sees it and may check it.
        await yamaguchi.GetAsync("/card");
        Assert.Contains(label, yamaguchi.Html, StringComparison.Ordinal);
        await yamaguchi.PostAsync("/card", new Dictionary<string, string> { ["card"] = label, ["application"] = "authentication", ["pin"] = "4321" });
        Assert.Equal(200, yamaguchi.Status);
    }

    [Fact]
    public async Task Every_kiosk_endpoint_admits_exactly_the_documented_credentials()
    {
        var (kiosk, address) = await install.StartKioskAsync(new KioskOptions { CaBaseAddress = install.CaAddress, WindowId = "MATRIX001" });
        await using (kiosk)
        {
            var documented = AccessMatrix.Documented("kiosk");
            var mapped = AccessMatrix.Mapped(kiosk.Services);
            Assert.DoesNotContain(mapped, m => !documented.Any(d => d.Method == m.Method && d.Route == m.Route));
            Assert.DoesNotContain(documented, d => !mapped.Contains((d.Method, d.Route)));

            using var operatorBrowser = new KioskBrowser(address);
            await operatorBrowser.LoginAsync("operator", install.OperatorPassword);
            var session = operatorBrowser.Cookies.GetCookies(address)[KioskPages.SessionCookie]!.Value;
            var credentials = new Dictionary<string, string?> { ["none"] = null, ["wrong-session"] = "CfDJ8-not-a-session", ["operator"] = session };
            using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = address };
            var wrong = new List<string>();
            foreach (var rule in documented)
            {
                foreach (var (name, cookie) in credentials)
                {
                    if (rule.Route == "/logout" && name == "operator")
                    {
                        continue; // would end the session the other rows need; its row says anyone
                    }

                    using var request = new HttpRequestMessage(new HttpMethod(rule.Method == "ANY" ? "GET" : rule.Method), AccessMatrix.Concrete(rule.Route).TrimStart('/'));
                    if (cookie is not null)
                    {
                        request.Headers.Add("Cookie", $"{KioskPages.SessionCookie}={cookie}");
                    }

                    if (rule.Method == "POST")
                    {
                        request.Content = new FormUrlEncodedContent([]);
                    }

                    using var response = await http.SendAsync(request);
                    var status = (int)response.StatusCode;
                    Assert.True(status < 500, $"{rule.Method} {rule.Route} as {name}: {status}");
                    var refused = status is 401 or 403 || (status == 302 && response.Headers.Location?.OriginalString == "/login");
                    if (refused == rule.Allows(name))
                    {
                        wrong.Add($"{rule.Method} {rule.Route} as {name}: {status}");
                    }
                }
            }

            var summary = $"kiosk: {documented.Count} endpoints × {credentials.Count} credentials: {wrong.Count} wrong";
            output.WriteLine(summary);
            AccessMatrix.Report("access matrix " + summary);
            Assert.True(wrong.Count == 0, string.Join("; ", wrong));
            await kiosk.StopAsync();
        }
    }
}
