using System.Text.Json;
using Jpki.Card;

namespace Jpki.Kiosk.Tests;

[Collection(InstallGroup.Name)]
public sealed class CardTests(InstallFixture install)
{
    private const string SigningPin = "ABC123";
    private const string AuthenticationPin = "1234";

    [Theory]
    [InlineData(CardApplication.Signing, "ABC12", PinProblem.SigningTooShort)]
    [InlineData(CardApplication.Signing, "ABCDEFGHIJ1234567", PinProblem.SigningTooLong)]
    [InlineData(CardApplication.Signing, "abc123", PinProblem.SigningBadCharacters)]
    [InlineData(CardApplication.Signing, "ABC-123", PinProblem.SigningBadCharacters)]
    [InlineData(CardApplication.Signing, "ABC123", PinProblem.None)]
    [InlineData(CardApplication.Signing, "ABCDEFGHIJ123456", PinProblem.None)]
    [InlineData(CardApplication.Authentication, "123", PinProblem.AuthenticationNotFourDigits)]
    [InlineData(CardApplication.Authentication, "12345", PinProblem.AuthenticationNotFourDigits)]
    [InlineData(CardApplication.Authentication, "12a4", PinProblem.AuthenticationNotFourDigits)]
    [InlineData(CardApplication.Authentication, "１２３４", PinProblem.AuthenticationNotFourDigits)]
    [InlineData(CardApplication.Authentication, "0000", PinProblem.None)]
    public void Pin_rules_name_the_problem(CardApplication application, string pin, PinProblem expected)
    {
        Assert.Equal(expected, PinRules.Check(application, pin));
    }

    [Fact]
    public void A_bad_pin_format_is_refused_with_a_clear_message_before_the_card_changes()
    {
        var label = install.Cards.CreateBlank();
        var e = Assert.Throws<CardPinFormatException>(() => install.Cards.Personalise(label, "short", AuthenticationPin));
        Assert.Equal("the signing PIN must be at least 6 characters", e.Message);
        e = Assert.Throws<CardPinFormatException>(() => install.Cards.Personalise(label, SigningPin, "12345"));
        Assert.Equal("the authentication PIN must be exactly 4 digits", e.Message);
        Assert.Equal("blank", install.Cards.Describe(label).State);
    }

    [Fact]
    public void Wrong_authentication_pins_count_down_and_lock_after_three_and_then_the_right_pin_is_refused()
    {
        var label = install.Cards.CreateBlank();
        install.Cards.Personalise(label, null, AuthenticationPin);
        install.Cards.VerifyPin(label, CardApplication.Authentication, AuthenticationPin);

        Assert.Equal(2, Assert.Throws<CardWrongPinException>(() => install.Cards.VerifyPin(label, CardApplication.Authentication, "9999")).TriesLeft);
        // A right PIN in between resets the counter, as on the card.
        install.Cards.VerifyPin(label, CardApplication.Authentication, AuthenticationPin);
        Assert.Equal(2, Assert.Throws<CardWrongPinException>(() => install.Cards.VerifyPin(label, CardApplication.Authentication, "9999")).TriesLeft);
        Assert.Equal(1, Assert.Throws<CardWrongPinException>(() => install.Cards.VerifyPin(label, CardApplication.Authentication, "9998")).TriesLeft);
        Assert.Throws<CardLockedException>(() => install.Cards.VerifyPin(label, CardApplication.Authentication, "9997"));
        Assert.Throws<CardLockedException>(() => install.Cards.VerifyPin(label, CardApplication.Authentication, AuthenticationPin));
        Assert.Equal("authentication-locked", install.Cards.Describe(label).State);
        Assert.Equal(3, install.Cards.Store.Load(label).AuthenticationWrongTries);
    }

    [Fact]
    public void Wrong_signing_pins_lock_after_five()
    {
        var label = install.Cards.CreateBlank();
        install.Cards.Personalise(label, SigningPin, AuthenticationPin);
        for (var left = 4; left >= 1; left--)
        {
            Assert.Equal(left, Assert.Throws<CardWrongPinException>(() => install.Cards.VerifyPin(label, CardApplication.Signing, "WRONG1")).TriesLeft);
        }

        Assert.Throws<CardLockedException>(() => install.Cards.VerifyPin(label, CardApplication.Signing, "WRONG1"));
        Assert.Throws<CardLockedException>(() => install.Cards.VerifyPin(label, CardApplication.Signing, SigningPin));
        // The authentication application is separate and still works.
        install.Cards.VerifyPin(label, CardApplication.Authentication, AuthenticationPin);
        Assert.Equal("signing-locked", install.Cards.Describe(label).State);
    }

    [Fact]
    public void Card_keys_are_generated_on_card_and_never_extractable()
    {
        var label = install.Cards.CreateBlank();
        var requests = install.Cards.Personalise(label, SigningPin, AuthenticationPin);
        Assert.StartsWith("-----BEGIN CERTIFICATE REQUEST-----", requests.SigningCsrPem, StringComparison.Ordinal);
        foreach (var (application, pin) in new[] { (CardApplication.Signing, SigningPin), (CardApplication.Authentication, AuthenticationPin) })
        {
            var key = install.Cards.DescribeKey(label, application, pin);
            Assert.True(key.Sensitive);
            Assert.False(key.Extractable);
            Assert.True(key.NeverExtractable);
            Assert.False(key.Decrypt);
        }
    }

    [Fact]
    public async Task A_signature_made_with_jpki_card_sign_verifies_with_openssl_cms_against_the_root()
    {
        var residentCode = await install.AddResidentAsync();
        var label = install.Cards.CreateBlank();
        var requests = install.Cards.Personalise(label, SigningPin, AuthenticationPin);
        var authentication = await install.IssueAsync(residentCode, "authentication", requests.AuthenticationCsrPem);
        var signing = await install.IssueAsync(residentCode, "signing", requests.SigningCsrPem!);
        install.Cards.WriteCertificate(label, CardApplication.Authentication, AuthenticationPin, PemToDer(authentication.GetProperty("certificatePem").GetString()!));
        install.Cards.WriteCertificate(label, CardApplication.Signing, SigningPin, PemToDer(signing.GetProperty("certificatePem").GetString()!));

        var listed = install.RunCard("list");
        Assert.Equal(0, listed.ExitCode);
        var line = listed.Stdout.Split('\n').Single(l => l.StartsWith(label, StringComparison.Ordinal));
        Assert.Contains(signing.GetProperty("serial").GetString()!.TrimStart('0'), line, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(authentication.GetProperty("serial").GetString()!.TrimStart('0'), line, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("personalised", line, StringComparison.Ordinal);

        var work = Directory.CreateTempSubdirectory("jpki-card-sign-").FullName;
        var document = Path.Combine(work, "doc.pdf");
        await File.WriteAllTextAsync(document, "%PDF-1.4 a document to sign\n");
        var pinFile = Path.Combine(work, "pin");
        await File.WriteAllTextAsync(pinFile, SigningPin + "\n");
        var signature = Path.Combine(work, "doc.p7s");
        var signed = install.RunCard("sign", "--card", label, "--in", document, "--out", signature, "--pin-file", pinFile);
        Assert.True(signed.ExitCode == 0, signed.Stderr);

        var root = RootPem(signing.GetProperty("issuerKeyId").GetString()!);
        var verified = ExternalProcess.RunWith("openssl", ["cms", "-verify", "-binary", "-content", document, "-inform", "DER", "-in", signature, "-CAfile", root, "-purpose", "any", "-out", "/dev/null"]);
        Assert.True(verified.ExitCode == 0, verified.Stderr);
        Assert.Contains("Verification successful", verified.Stderr, StringComparison.Ordinal);

        // A changed document fails.
        await File.AppendAllTextAsync(document, "tampered");
        var tampered = ExternalProcess.RunWith("openssl", ["cms", "-verify", "-binary", "-content", document, "-inform", "DER", "-in", signature, "-CAfile", root, "-purpose", "any", "-out", "/dev/null"]);
        Assert.NotEqual(0, tampered.ExitCode);
    }

    [Fact]
    public void Card_sign_refuses_a_pin_on_the_command_line_and_a_wrong_pin_file()
    {
        var label = install.Cards.CreateBlank();
        var onArgv = install.RunCard("sign", "--card", label, "--in", "/etc/hostname", "--out", "/dev/null", "--pin", SigningPin);
        Assert.Equal(2, onArgv.ExitCode);
        Assert.Contains("never given on the command line", onArgv.Stderr, StringComparison.Ordinal);

        var unknown = install.RunCard("sign", "--card", "CARD-00000000", "--in", "/etc/hostname", "--out", "/dev/null", "--pin-file", "/dev/null");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("no card labelled 'CARD-00000000'", unknown.Stderr, StringComparison.Ordinal);

        var noCertificate = install.RunCard("sign", "--card", label, "--in", "/etc/hostname", "--out", "/dev/null", "--pin-file", "/dev/null");
        Assert.Equal(1, noCertificate.ExitCode);
        Assert.Contains("holds no signing certificate", noCertificate.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Card_new_sets_an_expiry_that_card_list_shows_and_refuses_a_bad_one_without_making_a_card()
    {
        var expires = CardExpiry.JstDate(DateTimeOffset.UtcNow).AddYears(3);
        var made = install.RunCard("new", "--expires", expires.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(made.ExitCode == 0, made.Stderr);
        var label = made.Stdout.Trim();
        Assert.True(CardStore.IsLabel(label), label);
        Assert.Equal(expires, install.Cards.Store.Load(label).Expires);

        var listed = install.RunCard("list");
        Assert.Equal(0, listed.ExitCode);
        Assert.Contains("expires", listed.Stdout.Split('\n')[0], StringComparison.Ordinal);
        var line = listed.Stdout.Split('\n').Single(l => l.StartsWith(label, StringComparison.Ordinal));
        Assert.Matches($"^{label} +blank +{expires:yyyy-MM-dd} +-$", line.TrimEnd());

        var before = install.Cards.Store.Labels();
        var past = install.RunCard("new", "--expires", CardExpiry.JstDate(DateTimeOffset.UtcNow).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(2, past.ExitCode);
        Assert.Contains("must be after today (JST)", past.Stderr, StringComparison.Ordinal);
        var malformed = install.RunCard("new", "--expires", "2031-02-30");
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains("--expires must be a date YYYY-MM-DD, not '2031-02-30'", malformed.Stderr, StringComparison.Ordinal);
        var unknown = install.RunCard("new", "--valid", "2031-01-01");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("unexpected argument '--valid'", unknown.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, install.Cards.Store.Labels());
    }

    private string RootPem(string issuerKeyId) => install.RootPemPath(issuerKeyId);

    private static byte[] PemToDer(string pem) =>
        Convert.FromBase64String(string.Concat(pem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).Select(l => l.Trim())));

    internal static string Serial(JsonElement answer) => answer.GetProperty("serial").GetString()!;
}
