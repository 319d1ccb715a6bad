using Jpki.Card;

namespace Jpki.Kiosk.Tests;

/// <summary>
/// Issue 20, decision 0821: the kiosk's own disk is full. What the kiosk writes itself is its card
/// store (each card's state file with its PIN try counters, and the security-officer PIN of a new
/// card); sessions are in memory and logs go to standard output. Here that store is a tmpfs of its
/// own (<see cref="FullDisk"/>) filled to the last block; the SoftHSM tokens of the test's one
/// PKCS#11 module stay outside it. The CA is the fixture's, with room.
/// </summary>
[Collection(InstallGroup.Name)]
public sealed class KioskOwnDiskFullTests(InstallFixture install) : IDisposable
{
    private const string SigningPin = "PIN4SIGN";
    private const string AuthenticationPin = "4321";
    private readonly string disk = Directory.CreateTempSubdirectory("jpki-kiosk-disk-").FullName;

    private string StoreDirectory => Path.Combine(disk, "cards");

    private string Filler => Path.Combine(StoreDirectory, "filler");

    public void Dispose()
    {
        FullDisk.Unmount(StoreDirectory);
        Directory.Delete(disk, recursive: true);
    }

    /// <summary>
    /// The PINs are sent on a full card-store disk: no card can be made, the page is 503 with the
    /// Japanese sentence (nothing issued, free space, press 発行 again) and no error text; nothing
    /// is issued, no card, PIN file or temporary file is left; the enrolment is kept. Once the
    /// filler is deleted the same kiosk (no restart) delivers both certificates, issued once. Then
    /// the PIN counters: on the full disk a wrong PIN and the right one are both refused before
    /// reaching the card (the try cannot be counted), and the counter is unchanged afterwards.
    /// </summary>
    [Fact]
    public async Task A_full_kiosk_disk_shows_the_japanese_message_issues_nothing_and_the_retry_delivers_once_after_space_is_freed()
    {
        FullDisk.Mount(StoreDirectory, 8);
        var cards = new CardReader(install.Module, new CardStore(StoreDirectory), TimeProvider.System);
        var residentCode = await install.AddResidentAsync();
        var (kiosk, address) = await install.StartKioskAsync(new KioskOptions { CaBaseAddress = install.CaAddress, WindowId = "DISKKIOSK", CaTimeout = TimeSpan.FromSeconds(10) }, cards);
        await using (kiosk)
        {
            using var browser = new KioskBrowser(address);
            await browser.LoginAsync("operator", install.OperatorPassword);
            await browser.GetAsync("/enrol");
            await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
            Assert.True(browser.Status == 200, browser.Html);
            await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes" });
            var issuedBefore = install.IssuedCertificates();

            var filled = FullDisk.Fill(Filler);
            int status;
            string html;
            try
            {
                await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
                (status, html) = (browser.Status, browser.Html);
            }
            finally
            {
                File.Delete(Filler);
            }

            Assert.True(status == 503, $"{status} ({filled / 1024} KiB filler): {html}");
            Assert.Contains(KioskText.Japanese.KioskStorageFull, html, StringComparison.Ordinal);
            Assert.Contains("何も発行されていません", KioskText.Japanese.KioskStorageFull, StringComparison.Ordinal);
            foreach (var code in new[] { "No space", "IOException", "CardStoreFull", "so.pin" })
            {
                Assert.DoesNotContain(code, html, StringComparison.OrdinalIgnoreCase);
            }

            Assert.Contains("name=\"authenticationPin\"", html, StringComparison.Ordinal);
            Assert.Equal(issuedBefore, install.IssuedCertificates());
            Assert.Empty(cards.Store.Labels());
            Assert.Empty(Directory.EnumerateFiles(StoreDirectory));
            Assert.Contains(install.KioskLog, l => l.Contains("card store is full", StringComparison.Ordinal));

            // Space is back: the same kiosk goes on with the kept enrolment and delivers once.
            await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
            Assert.True(browser.Status == 200, browser.Html);
            Assert.Contains("id=\"delivered\"", browser.Html, StringComparison.Ordinal);
            var card = Assert.Single(cards.Store.Labels());
            Assert.Equal(card, browser.CardOnPage());
            Assert.Equal(2, cards.Certificates(card).Count);
            Assert.Equal(issuedBefore + 2, install.IssuedCertificates());

            // The PIN counters on a full disk: no try reaches the card uncounted.
            FullDisk.Fill(Filler);
            Exception wrong;
            Exception right;
            try
            {
                wrong = Assert.ThrowsAny<CardException>(() => cards.VerifyPin(card, CardApplication.Authentication, "9999"));
                right = Assert.ThrowsAny<CardException>(() => cards.VerifyPin(card, CardApplication.Authentication, AuthenticationPin));
            }
            finally
            {
                File.Delete(Filler);
            }

            Assert.IsType<CardStoreFullException>(wrong);
            Assert.IsType<CardStoreFullException>(right);
            Assert.Equal("personalised", cards.Describe(card).State);
            var counted = Assert.Throws<CardWrongPinException>(() => cards.VerifyPin(card, CardApplication.Authentication, "9999"));
            Assert.Equal(PinRules.MaxWrongTries(CardApplication.Authentication) - 1, counted.TriesLeft);
            cards.VerifyPin(card, CardApplication.Authentication, AuthenticationPin);
            Assert.Empty(Directory.EnumerateFiles(StoreDirectory, "*.tmp"));
            AccessMatrix.Report($"fault disk-full kiosk-own: the kiosk's card store full ({filled / 1024} KiB filler): 503 with the Japanese sentence, nothing issued, no card or file left, enrolment kept; after space came back the same kiosk delivered 2 certificates once; on the full disk a wrong and a right PIN were refused uncounted before reaching the card, the counter unchanged after");
            await kiosk.StopAsync();
        }
    }

    /// <summary>
    /// The kiosk's disk fills between the CA's issuance and the write onto the card: a forwarder in
    /// front of the CA (<see cref="CaProxy"/>) fills the card store's tmpfs when the CA's second 201
    /// passes, before the kiosk reads it. The card refuses the PIN try it cannot count, so nothing is
    /// written: the page is 503 with the Japanese sentence (revoked at once, start again from the
    /// lookup) and the serials, no error text; both certificates are revoked at once through the CA
    /// (destroyedBeforeDelivery, reason unspecified per docs/jpki-profile.md), the audit chain has
    /// each issuance before its revocation; the card holds no certificate, its state and PIN counters
    /// are as before and no temporary file is left; an error line in the kiosk's log names the cause.
    /// </summary>
    [Fact]
    public async Task A_disk_filling_between_issuance_and_the_card_write_revokes_the_issued_certificates_at_once_and_leaves_the_card_clean()
    {
        FullDisk.Mount(StoreDirectory, 8);
        var cards = new CardReader(install.Module, new CardStore(StoreDirectory), TimeProvider.System);
        var residentCode = await install.AddResidentAsync();
        await using var proxy = await CaProxy.StartAsync(install.CaAddress);
        long filled = 0;
        proxy.AfterIssuance = issued =>
        {
            filled = issued == 2 ? FullDisk.Fill(Filler) : filled;
            return Task.CompletedTask;
        };
        var (kiosk, address) = await install.StartKioskAsync(new KioskOptions { CaBaseAddress = proxy.Address, WindowId = "FULLWRITE", CaTimeout = TimeSpan.FromSeconds(10) }, cards);
        await using (kiosk)
        {
            using var browser = new KioskBrowser(address);
            await browser.LoginAsync("operator", install.OperatorPassword);
            await browser.GetAsync("/enrol");
            await browser.PostAsync("/enrol/lookup", new Dictionary<string, string> { ["residentCode"] = residentCode });
            Assert.True(browser.Status == 200, browser.Html);
            await browser.PostAsync("/enrol/confirm", new Dictionary<string, string> { ["checked"] = "yes" });
            var issuedBefore = install.IssuedCertificates();
            var firstRecord = install.Scalar("SELECT COALESCE(MAX(seq), 0) FROM audit_log");
            int status;
            string html;
            try
            {
                await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
                (status, html) = (browser.Status, browser.Html);
            }
            finally
            {
                File.Delete(Filler);
            }

            Assert.True(filled > 0, "the disk was not filled after the second issuance");
            Assert.True(status == 503, $"{status} ({filled / 1024} KiB filler): {html}");
            Assert.Contains(KioskText.Japanese.KioskStorageFullAfterIssuance, html, StringComparison.Ordinal);
            foreach (var code in new[] { "No space", "IOException", "CardStoreFull", ".json", StoreDirectory })
            {
                Assert.DoesNotContain(code, html, StringComparison.OrdinalIgnoreCase);
            }

            Assert.Equal(issuedBefore + 2, install.IssuedCertificates());
            var serials = install.Texts("SELECT subject FROM audit_log WHERE action = 'certificate.issued' AND seq > @firstRecord ORDER BY seq", new { firstRecord });
            Assert.Equal(2, serials.Count);
            foreach (var serial in serials)
            {
                Assert.Contains(serial, html, StringComparison.OrdinalIgnoreCase);
                Assert.Equal(1, install.Scalar(
                    "SELECT COUNT(*) FROM certificates WHERE serial = @serial AND status = 'revoked' AND reason = 0 AND revocation_cause = 'destroyedBeforeDelivery' AND delivery_state = 'destroyed'",
                    new { serial }));
                Assert.Equal(1, install.Scalar(
                    """
                    SELECT COUNT(*) FROM audit_log i JOIN audit_log r ON r.subject = i.subject
                    WHERE i.subject = @serial AND i.action = 'certificate.issued' AND r.action = 'certificate.revoked'
                      AND json_extract(r.details, '$.cause') = 'destroyedBeforeDelivery' AND r.seq > i.seq
                    """,
                    new { serial }));
                Assert.Equal(1, install.Scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'revocation.requested' AND subject = @serial AND actor = 'operator' AND json_extract(details, '$.cause') = 'destroyedBeforeDelivery'", new { serial }));
            }

            var card = Assert.Single(cards.Store.Labels());
            Assert.Empty(cards.Certificates(card));
            var state = cards.Store.Load(card);
            Assert.Equal((0, 0, true), (state.SigningWrongTries, state.AuthenticationWrongTries, state.Personalised));
            Assert.Empty(Directory.EnumerateFiles(StoreDirectory, "*.tmp"));
            Assert.Contains(install.KioskLog, l => l.Contains("card store is full after issuance", StringComparison.Ordinal) && serials.All(s => l.Contains(s, StringComparison.OrdinalIgnoreCase)));

            // The enrolment is over: the PIN page is not offered again; the window starts from the lookup.
            Assert.DoesNotContain("name=\"authenticationPin\"", html, StringComparison.Ordinal);
            await browser.GetAsync("/enrol");
            await browser.PostAsync("/enrol/issue", KioskBrowser.Pins(SigningPin, SigningPin, AuthenticationPin, AuthenticationPin));
            Assert.Equal(issuedBefore + 2, install.IssuedCertificates());
            AccessMatrix.Report($"fault disk-full kiosk-card-write: the card store filled ({filled / 1024} KiB filler) after the CA issued 2 certificates: 503 with the Japanese sentence, both revoked at once (destroyedBeforeDelivery, audit issued before revoked), the card without certificate, counters unchanged, no file left");
            await kiosk.StopAsync();
        }
    }
}
