using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Jpki.Verifier;

/// <summary>A challenge file or value that cannot be read as a login challenge.</summary>
public sealed class LoginChallengeFormatException(string message, Exception? inner = null) : FormatException(message, inner);

/// <summary>
/// What a service hands a resident to sign with the user-authentication key (利用者証明用電子証明書)
/// at login: who asks (<see cref="Audience"/>), a fresh random <see cref="Nonce"/>, until when the
/// answer is taken, and the service's HMAC-SHA256 over these, so that any instance sharing the key
/// knows it issued the challenge without having kept it. The card signs <see cref="ToBeSigned"/>,
/// which carries the audience: a challenge relayed to another service is refused there.
/// </summary>
public sealed record LoginChallenge(string Audience, string Nonce, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt, string Mac)
{
    /// <summary>The first line of what is MACed and signed: names the format, so a signature over a challenge is never anything else.</summary>
    public const string Domain = "jpki-login-challenge-v1";

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The bytes the card signs: the MACed fields and the MAC, one per line, times as Unix seconds.</summary>
    public byte[] ToBeSigned() => Encoding.UTF8.GetBytes(MacInput() + "\n" + Mac);

    internal string MacInput() => string.Join(
        "\n",
        Domain,
        Audience,
        Nonce,
        IssuedAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
        ExpiresAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));

    /// <summary>The challenge as the JSON file a service sends: <c>{ version, audience, nonce, issuedAt, expiresAt, mac }</c>.</summary>
    public string ToJson() => JsonSerializer.Serialize(new Document(1, Audience, Nonce, IssuedAt, ExpiresAt, Mac), Json);

    /// <summary>Reads a challenge; anything but a version-1 document with every field is a <see cref="LoginChallengeFormatException"/>.</summary>
    public static LoginChallenge Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        Document? document;
        try
        {
            document = JsonSerializer.Deserialize<Document>(json, Json);
        }
        catch (JsonException e)
        {
            throw new LoginChallengeFormatException("not a login challenge (JSON): " + e.Message, e);
        }

        if (document is null || document.Version != 1)
        {
            throw new LoginChallengeFormatException($"not a version 1 login challenge (version {document?.Version})");
        }

        if (string.IsNullOrEmpty(document.Audience) || document.Audience.Contains('\n', StringComparison.Ordinal)
            || string.IsNullOrEmpty(document.Nonce) || document.Nonce.Contains('\n', StringComparison.Ordinal)
            || string.IsNullOrEmpty(document.Mac) || document.IssuedAt is null || document.ExpiresAt is null)
        {
            throw new LoginChallengeFormatException("a login challenge needs audience, nonce, issuedAt, expiresAt and mac (one line each)");
        }

        return new LoginChallenge(document.Audience, document.Nonce, document.IssuedAt.Value, document.ExpiresAt.Value, document.Mac);
    }

    private sealed record Document(
        int Version,
        string? Audience,
        string? Nonce,
        DateTimeOffset? IssuedAt,
        DateTimeOffset? ExpiresAt,
        string? Mac);
}

/// <summary>
/// Issues login challenges for one audience with the service's MAC key. Every instance of the
/// service holds the same key and audience; none keeps the challenges it issued.
/// </summary>
public sealed class LoginChallengeIssuer
{
    /// <summary>How long a resident has to answer, unless the service says otherwise.</summary>
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromMinutes(2);

    private readonly byte[] macKey;
    private readonly TimeProvider time;

    /// <param name="macKey">the service's HMAC-SHA256 key, at least 32 bytes (random, kept secret, shared by its instances)</param>
    /// <param name="audience">who the challenge is for (e.g. the service's login URL): one line</param>
    public LoginChallengeIssuer(byte[] macKey, string audience, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(macKey);
        ArgumentException.ThrowIfNullOrWhiteSpace(audience);
        if (macKey.Length < 32)
        {
            throw new ArgumentException($"the MAC key must be at least 32 bytes, not {macKey.Length}", nameof(macKey));
        }

        if (audience.Contains('\n', StringComparison.Ordinal))
        {
            throw new ArgumentException("the audience must be one line", nameof(audience));
        }

        this.macKey = [.. macKey];
        Audience = audience;
        this.time = time ?? TimeProvider.System;
    }

    public string Audience { get; }

    public LoginChallenge Issue(TimeSpan? lifetime = null)
    {
        var span = lifetime ?? DefaultLifetime;
        if (span <= TimeSpan.Zero || span > TimeSpan.FromHours(1))
        {
            throw new ArgumentOutOfRangeException(nameof(lifetime), span, "a challenge lives more than 0 and at most 1 hour");
        }

        // Whole seconds: the MAC covers Unix seconds, and the JSON must give back the same instant.
        var now = DateTimeOffset.FromUnixTimeSeconds(time.GetUtcNow().ToUnixTimeSeconds());
        var unsigned = new LoginChallenge(Audience, Base64Url(RandomNumberGenerator.GetBytes(32)), now, now + span, "");
        return unsigned with { Mac = MacOf(macKey, unsigned) };
    }

    internal static string MacOf(byte[] key, LoginChallenge challenge) =>
        Base64Url(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(challenge.MacInput())));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>
/// Where the nonces of answered challenges are remembered until they expire, shared by every
/// instance of a service: the first answer consumes the nonce, any later one is a replay.
/// </summary>
public interface IUsedChallenges
{
    /// <summary>Records the nonce as used; false if it already was (by this or another instance).</summary>
    Task<bool> TryConsumeAsync(string audience, string nonce, DateTimeOffset expiresAt, CancellationToken cancellationToken = default);
}

/// <summary>What a login verification needs besides the trust settings of <see cref="VerifierOptions"/>.</summary>
public sealed record LoginOptions
{
    /// <summary>The certificate policy of JPKI user-authentication certificates (docs/jpki-profile.md §5).</summary>
    public const string AuthenticationPolicy = "1.2.392.200149.8.5.1.3.30";

    /// <summary>This service's audience: a challenge for any other is refused.</summary>
    public required string Audience { get; init; }

    /// <summary>This service's HMAC-SHA256 key (the one its challenges were issued with).</summary>
    public required byte[] MacKey { get; init; }

    /// <summary>The nonce ledger every instance of the service shares.</summary>
    public required IUsedChallenges UsedChallenges { get; init; }

    /// <summary>Policies a user-authentication certificate may carry (any one suffices).</summary>
    public System.Collections.Immutable.ImmutableArray<string> AcceptedPolicies { get; init; } = [AuthenticationPolicy];
}

/// <summary>
/// Checks a login: the challenge is this service's (MAC), for this audience, not expired; the
/// signature over it verifies with the certificate's key; the certificate is a JPKI
/// user-authentication certificate (chain, validity, digitalSignature only, the authentication
/// policy, no four facts — it carries none) with a good status; and the nonce had not been used.
/// The service learns that the certificate is valid, and nothing about the person.
/// </summary>
public static class LoginVerifier
{
    public static async Task<VerificationResult> VerifyAsync(
        LoginChallenge challenge, byte[] signature, byte[] certificate, VerifierOptions options, LoginOptions login, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        ArgumentNullException.ThrowIfNull(signature);
        ArgumentNullException.ThrowIfNull(certificate);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(login);

        // A login happens now: a validation time in the past is for signed documents only.
        var now = options.Time.GetUtcNow();
        var checks = System.Collections.Immutable.ImmutableArray.CreateBuilder<CheckOutcome>();
        checks.Add(CheckChallenge(challenge, login, now, options.ClockSkew));
        if (checks[0].Status == CheckStatus.Failed)
        {
            checks.Add(CheckOutcome.Skip(CheckKind.Signature, "the challenge is refused"));
            return SkipUse(SignatureVerifier.WithoutCertificate(checks, now, null, "the challenge is refused"));
        }

        var certificates = TrustAnchors.ReadCertificates(certificate);
        if (certificates.Count != 1)
        {
            checks.Add(CheckOutcome.Fail(CheckKind.Signature, FailureReason.SignerCertificateMissing, "the certificate given is not one X.509 certificate (PEM or DER)"));
            return SkipUse(SignatureVerifier.WithoutCertificate(checks, now, null, "no certificate"));
        }

        var signer = certificates[0];
        checks.Add(CheckSignature(challenge, signature, signer));
        var result = await SignatureVerifier.CheckCertificateAsync(checks, signer, CertificateProfile.Authentication(login.AcceptedPolicies), options, now, null, cancellationToken).ConfigureAwait(false);
        if (result.FirstFailure is not null)
        {
            return SkipUse(result);
        }

        // Last, so that a refused login does not burn the nonce; the ledger's insert decides between two simultaneous answers.
        var first = await login.UsedChallenges.TryConsumeAsync(challenge.Audience, challenge.Nonce, challenge.ExpiresAt, cancellationToken).ConfigureAwait(false);
        return result with
        {
            Checks = result.Checks.Add(first
                ? CheckOutcome.Pass(CheckKind.SingleUse, "first answer to this challenge (nonce recorded until it expires)")
                : CheckOutcome.Fail(CheckKind.SingleUse, FailureReason.ChallengeReplayed, "this challenge was answered before: a replay")),
        };
    }

    private static VerificationResult SkipUse(VerificationResult result) =>
        result with { Checks = result.Checks.Add(CheckOutcome.Skip(CheckKind.SingleUse, "the login is refused; the nonce is not consumed")) };

    private static CheckOutcome CheckChallenge(LoginChallenge challenge, LoginOptions login, DateTimeOffset now, TimeSpan skew)
    {
        if (!string.Equals(challenge.Audience, login.Audience, StringComparison.Ordinal))
        {
            return CheckOutcome.Fail(CheckKind.Challenge, FailureReason.WrongAudience, $"the challenge is for '{challenge.Audience}', not this service ('{login.Audience}'): relayed from another service");
        }

        var expected = Convert.FromBase64String(ToBase64(LoginChallengeIssuer.MacOf(login.MacKey, challenge)));
        byte[] given;
        try
        {
            given = Convert.FromBase64String(ToBase64(challenge.Mac));
        }
        catch (FormatException)
        {
            given = [];
        }

        if (!CryptographicOperations.FixedTimeEquals(expected, given))
        {
            return CheckOutcome.Fail(CheckKind.Challenge, FailureReason.ChallengeMacInvalid, "the challenge's MAC is not this service's: it was not issued here, or was altered");
        }

        if (now > challenge.ExpiresAt + skew)
        {
            return CheckOutcome.Fail(CheckKind.Challenge, FailureReason.ChallengeExpired, $"the challenge expired at {SignatureVerifier.Jst(challenge.ExpiresAt)}; now is {SignatureVerifier.Jst(now)}");
        }

        if (challenge.IssuedAt > now + skew)
        {
            return CheckOutcome.Fail(CheckKind.Challenge, FailureReason.ChallengeExpired, $"the challenge is issued in the future ({SignatureVerifier.Jst(challenge.IssuedAt)})");
        }

        return CheckOutcome.Pass(CheckKind.Challenge, $"issued by this service for '{challenge.Audience}', valid until {SignatureVerifier.Jst(challenge.ExpiresAt)}");
    }

    private static CheckOutcome CheckSignature(LoginChallenge challenge, byte[] signature, Org.BouncyCastle.X509.X509Certificate signer)
    {
        try
        {
            var verifier = Org.BouncyCastle.Security.SignerUtilities.GetSigner("SHA256WITHRSA");
            verifier.Init(false, CertificateKeys.Of(signer));
            var data = challenge.ToBeSigned();
            verifier.BlockUpdate(data, 0, data.Length);
            return verifier.VerifySignature(signature)
                ? CheckOutcome.Pass(CheckKind.Signature, "sha256WithRSAEncryption signature over the challenge verifies with the certificate's key")
                : CheckOutcome.Fail(CheckKind.Signature, FailureReason.BadSignature, "the signature over the challenge does not verify with the certificate's key");
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or InvalidCastException or Org.BouncyCastle.Crypto.CryptoException)
        {
            return CheckOutcome.Fail(CheckKind.Signature, FailureReason.BadSignature, "the signature cannot be checked with the certificate's key: " + e.Message);
        }
    }

    private static string ToBase64(string base64Url)
    {
        var text = base64Url.Replace('-', '+').Replace('_', '/');
        return text.PadRight(text.Length + ((4 - (text.Length % 4)) % 4), '=');
    }
}
