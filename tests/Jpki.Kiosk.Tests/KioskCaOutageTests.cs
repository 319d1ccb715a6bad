using System.Text.RegularExpressions;
using Jpki.Ca;
using Jpki.Card;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// The CA going away in the middle of an enrolment (issue 8): between the lookup and the
/// issuance, and between the two issuances (a second CA instance on a port of its own, stopped by
/// <see cref="CaProxy"/> right after its first issuance answer): a clear page, nothing on the
/// card, a retry that finishes once, a give-up that revokes at once, the sweeper as backstop.
/// </summary>
[Collection(InstallGroup.Name)]
public sealed partial class KioskCaOutageTests(InstallFixture install)
{
    private const string SigningPin = "PIN4SIGN";
    private const string AuthenticationPin = "4321";

    [Fact]
    public async Task The_ca_going_down_between_lookup_and_issuance_gives_a_clear_page_and_leaves_nothing_half_done()
    {
        var residentCode = await install.AddResidentAsync();
        // A second CA instance on a port of its own, so it can come back on the same address.
        var caAddress = new Uri($"http://127.0.0.1:{LoopbackPorts.Free()}/");
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

    /// <summary>
    /// A window whose CA — a second instance on its own loopback port, reached through
    /// <see cref="CaProxy"/> — stops right after it has answered the first issuance; the operator
    /// is logged in and has confirmed the resident's facts: the next step is the PINs.
    /// </summary>
    private async Task<HalfWayWindow> AtThePinsBehindACaThatStopsAfterItsFirstIssuanceAsync(string residentCode, string windowId)
    {
        var caAddress = new Uri($"http://127.0.0.1:{LoopbackPorts.Free()}/");
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

    /// <summary>Moves certificates' issuance two hours back, past the CA's delivery window (30 minutes), as the CA's own sweeper tests do.</summary>
    private void AgeCertificates(params string[] serials)
    {
        var twoHoursAgo = (DateTimeOffset.UtcNow - TimeSpan.FromHours(2)).ToUnixTimeMilliseconds() * 1000;
        foreach (var serial in serials)
        {
            install.ExecuteSql("UPDATE certificates SET created_us = @twoHoursAgo WHERE serial = @serial", new { twoHoursAgo, serial });
        }
    }

    [GeneratedRegex("（引渡し前廃棄）: ([0-9a-f]+)</p>")]
    private static partial Regex HalfIssuedPattern();
}
