using System.Security.Cryptography;
using System.Text.Json;
using Jpki.Card;
using Jpki.Verifier.Store;

namespace Jpki.Verifier.Tests;

/// <summary>
/// Logins with the user-authentication certificate against a real install: challenges issued by a
/// service, answered by <c>jpki card auth</c> or the card library, checked by <c>jpki verify auth</c>
/// and <see cref="LoginVerifier"/> with the install's OCSP responder and a shared SQLite ledger.
/// </summary>
[Collection(VerifierGroup.Name)]
public sealed class LoginTests(VerifierFixture install)
{
    private const string Audience = "https://e-filing.example/login";
    private readonly byte[] macKey = RandomNumberGenerator.GetBytes(32);

    private string Work
    {
        get
        {
            var directory = Path.Combine(install.Work, "login");
            Directory.CreateDirectory(directory);
            return directory;
        }
    }

    private string Ledger => $"Data Source={Path.Combine(Work, "logins.db")}";

    private LoginOptions Options(string audience = Audience, byte[]? key = null, IUsedChallenges? ledger = null) => new()
    {
        Audience = audience,
        MacKey = key ?? macKey,
        UsedChallenges = ledger ?? new SqlUsedChallenges(Ledger),
    };

    private (byte[] Signature, byte[] Certificate) Answer(string label, LoginChallenge challenge) =>
        install.Cards.SignWithAuthenticationKey(label, VerifierFixture.AuthenticationPin, challenge.ToBeSigned());

    [Fact]
    public async Task A_card_answers_a_challenge_with_jpki_card_auth_and_jpki_verify_auth_accepts_it_once()
    {
        var (label, _, authentication) = await install.EnrolCardAsync(name: "田中　一郎");
        var keyFile = Path.Combine(Work, "service-a.key");
        await File.WriteAllBytesAsync(keyFile, macKey);
        var challengeFile = Path.Combine(Work, label + ".challenge.json");
        var issued = install.RunVerify("challenge", "--audience", Audience, "--key-file", keyFile, "--out", challengeFile);
        Assert.True(issued.ExitCode == 0, issued.ToString());
        var challenge = LoginChallenge.Parse(await File.ReadAllTextAsync(challengeFile));
        Assert.Equal(Audience, challenge.Audience);

        var signatureFile = Path.Combine(Work, label + ".sig");
        var certificateFile = Path.Combine(Work, label + ".auth.pem");
        var card = install.RunCard(VerifierFixture.AuthenticationPin + "\n", "auth", "--card", label, "--challenge", challengeFile, "--out", signatureFile, "--cert-out", certificateFile);
        Assert.True(card.ExitCode == 0, card.ToString());
        Assert.Contains($"login to '{Audience}'", card.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(VerifierFixture.AuthenticationPin, card.Output, StringComparison.Ordinal);

        var store = Path.Combine(Work, label + "-cli.db");
        string[] arguments = ["auth", "--challenge", challengeFile, "--sig", signatureFile, "--cert", certificateFile, "--audience", Audience, "--key-file", keyFile, "--store", store, "--ocsp", install.OcspUrl.ToString()];
        var first = install.RunVerify([.. arguments, "--json"]);
        Assert.True(first.ExitCode == 0, first.ToString());
        var answer = JsonDocument.Parse(first.Stdout).RootElement;
        Assert.True(answer.GetProperty("valid").GetBoolean());
        Assert.Equal("good", answer.GetProperty("status").GetString());
        Assert.False(answer.TryGetProperty("facts", out _));
        Assert.Equal(authentication.GetProperty("serial").GetString()!.TrimStart('0'), answer.GetProperty("signer").GetProperty("serial").GetString()!.TrimStart('0'), ignoreCase: true);
        Assert.Equal(Audience, answer.GetProperty("login").GetProperty("audience").GetString());
        Assert.Equal("Passed", answer.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("check").GetString() == "SingleUse").GetProperty("status").GetString());

        // The same answer again, as another instance of the service would receive it: a replay.
        var replay = install.RunVerify(arguments);
        Assert.True(replay.ExitCode == 43, replay.ToString());
        Assert.Contains("FAILED ChallengeReplayed", replay.Stdout, StringComparison.Ordinal);
        Assert.Contains("replay", replay.Stderr, StringComparison.Ordinal);

        // A wrong PIN signs nothing.
        var wrongPin = install.RunCard("9999\n", "auth", "--card", label, "--challenge", challengeFile, "--out", signatureFile + ".2");
        Assert.Equal(1, wrongPin.ExitCode);
        Assert.False(File.Exists(signatureFile + ".2"));
    }

    [Fact]
    public async Task A_challenge_relayed_from_another_audience_is_refused_even_with_a_shared_key()
    {
        var (label, _, _) = await install.EnrolCardAsync();
        var otherKey = RandomNumberGenerator.GetBytes(32);
        var relayed = new LoginChallengeIssuer(otherKey, "https://phishing.example/login").Issue();
        var (signature, certificate) = Answer(label, relayed);
        var result = await LoginVerifier.VerifyAsync(relayed, signature, certificate, install.Options(install.Ocsp), Options());
        Assert.Equal(FailureReason.WrongAudience, result.FirstFailure!.Reason);
        Assert.Contains("relayed", result[CheckKind.Challenge].Detail, StringComparison.Ordinal);
        Assert.Equal(CheckStatus.NotChecked, result[CheckKind.SingleUse].Status);

        // A sister service with the same MAC key: the MAC is right, the audience is not this one.
        var sister = new LoginChallengeIssuer(macKey, "https://other-office.example/login").Issue();
        (signature, certificate) = Answer(label, sister);
        result = await LoginVerifier.VerifyAsync(sister, signature, certificate, install.Options(install.Ocsp), Options());
        Assert.Equal(FailureReason.WrongAudience, result.FirstFailure!.Reason);

        // The audience rewritten to this service's after signing: the MAC no longer matches.
        var rewritten = sister with { Audience = Audience };
        result = await LoginVerifier.VerifyAsync(rewritten, signature, certificate, install.Options(install.Ocsp), Options());
        Assert.Equal(FailureReason.ChallengeMacInvalid, result.FirstFailure!.Reason);

        // This service's own challenge, answered by the same card, is accepted (the refusals were about the audience).
        var own = new LoginChallengeIssuer(macKey, Audience).Issue();
        (signature, certificate) = Answer(label, own);
        result = await LoginVerifier.VerifyAsync(own, signature, certificate, install.Options(install.Ocsp), Options());
        Assert.True(result.IsValid, string.Join("\n", result.Checks));
    }

    [Fact]
    public async Task An_expired_challenge_or_one_altered_after_signing_is_refused()
    {
        var (label, _, _) = await install.EnrolCardAsync();
        var clock = new ManualClock(DateTimeOffset.UtcNow.AddMinutes(-30));
        var old = new LoginChallengeIssuer(macKey, Audience, clock).Issue(TimeSpan.FromMinutes(2));
        var (signature, certificate) = Answer(label, old);
        var result = await LoginVerifier.VerifyAsync(old, signature, certificate, install.Options(install.Ocsp), Options());
        Assert.Equal(FailureReason.ChallengeExpired, result.FirstFailure!.Reason);
        Assert.Contains("expired at", result[CheckKind.Challenge].Detail, StringComparison.Ordinal);

        var challengeFile = Path.Combine(Work, label + "-expired.json");
        var signatureFile = Path.Combine(Work, label + "-expired.sig");
        var certificateFile = Path.Combine(Work, label + "-expired.pem");
        var keyFile = Path.Combine(Work, label + "-expired.key");
        await File.WriteAllTextAsync(challengeFile, old.ToJson());
        await File.WriteAllBytesAsync(signatureFile, signature);
        await File.WriteAllBytesAsync(certificateFile, certificate);
        await File.WriteAllBytesAsync(keyFile, macKey);
        var cli = install.RunVerify("auth", "--challenge", challengeFile, "--sig", signatureFile, "--cert", certificateFile, "--audience", Audience, "--key-file", keyFile, "--store", Path.Combine(Work, label + "-expired.db"), "--ocsp", install.OcspUrl.ToString());
        Assert.True(cli.ExitCode == 42, cli.ToString());

        // A fresh challenge whose expiry is pushed out after signing: the MAC catches it; the signature would too.
        var fresh = new LoginChallengeIssuer(macKey, Audience).Issue();
        (signature, certificate) = Answer(label, fresh);
        var extended = fresh with { ExpiresAt = fresh.ExpiresAt.AddHours(1) };
        result = await LoginVerifier.VerifyAsync(extended, signature, certificate, install.Options(install.Ocsp), Options());
        Assert.Equal(FailureReason.ChallengeMacInvalid, result.FirstFailure!.Reason);

        // A signature over another challenge of this service: the signature check refuses it.
        var other = new LoginChallengeIssuer(macKey, Audience).Issue();
        result = await LoginVerifier.VerifyAsync(other, signature, certificate, install.Options(install.Ocsp), Options());
        Assert.Equal(FailureReason.BadSignature, result.FirstFailure!.Reason);

        // A malformed challenge file is a typed error.
        Assert.Throws<LoginChallengeFormatException>(() => LoginChallenge.Parse("{\"version\":1,\"audience\":\"x\"}"));
        await File.WriteAllTextAsync(challengeFile, "not json");
        cli = install.RunVerify("auth", "--challenge", challengeFile, "--sig", signatureFile, "--cert", certificateFile, "--audience", Audience, "--key-file", keyFile, "--store", Path.Combine(Work, label + "-expired.db"));
        Assert.True(cli.ExitCode == 3, cli.ToString());
    }

    [Fact]
    public async Task A_revoked_authentication_certificate_cannot_log_in()
    {
        var (label, _, authentication) = await install.EnrolCardAsync();
        var before = new LoginChallengeIssuer(macKey, Audience).Issue();
        var (signature, certificate) = Answer(label, before);
        Assert.True((await LoginVerifier.VerifyAsync(before, signature, certificate, install.Options(install.Ocsp), Options())).IsValid);

        await install.RevokeAsync(authentication.GetProperty("serial").GetString()!);
        VerificationResult result;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        do
        {
            var challenge = new LoginChallengeIssuer(macKey, Audience).Issue();
            (signature, certificate) = Answer(label, challenge);
            result = await LoginVerifier.VerifyAsync(challenge, signature, certificate, install.Options(install.Ocsp), Options());
            if (result.Revocation.State == RevocationState.Revoked)
            {
                break;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Equal(FailureReason.Revoked, result.FirstFailure!.Reason);
        Assert.Equal(CheckStatus.Passed, result[CheckKind.Signature].Status);
        Assert.Equal(CheckStatus.NotChecked, result[CheckKind.SingleUse].Status);
    }

    [Fact]
    public async Task A_signing_certificate_used_instead_of_an_authentication_one_is_refused()
    {
        var signing = await install.IssueExportedKeyAsync("signing");
        var authentication = await install.IssueExportedKeyAsync("authentication");
        foreach (var (key, expected) in new[] { (signing, FailureReason.WrongKeyUsage), (authentication, FailureReason.None) })
        {
            var challenge = new LoginChallengeIssuer(macKey, Audience).Issue();
            using var rsa = RSA.Create();
            rsa.ImportFromPem(key.PrivateKeyPem);
            var signature = rsa.SignData(challenge.ToBeSigned(), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            var result = await LoginVerifier.VerifyAsync(challenge, signature, System.Text.Encoding.ASCII.GetBytes(key.CertificatePem), install.Options(install.Ocsp), Options());
            Assert.Equal(CheckStatus.Passed, result[CheckKind.Signature].Status);
            Assert.Equal(expected, result.FirstFailure?.Reason ?? FailureReason.None);
            if (expected == FailureReason.WrongKeyUsage)
            {
                Assert.Contains("a JPKI user-authentication certificate has exactly digitalSignature", result[CheckKind.KeyUsage].Detail, StringComparison.Ordinal);
            }
        }
    }
}
