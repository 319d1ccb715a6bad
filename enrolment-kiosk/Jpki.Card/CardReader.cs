using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Jpki.Hsm;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Cms;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Utilities.Collections;
using Org.BouncyCastle.X509;

namespace Jpki.Card;

/// <summary>A certificate on a card, as a reader lists it without a PIN.</summary>
public sealed record CardCertificate(CardApplication Application, string Serial, DateTimeOffset NotAfter, string Subject, byte[] Der);

/// <summary>A card as <c>jpki card list</c> shows it.</summary>
public sealed record CardSummary(string Label, string State, IReadOnlyList<CardCertificate> Certificates, DateOnly? Expires = null, string? MunicipalityCode = null);

/// <summary>
/// The PKCS#10 requests a card made for its new key pairs (PEM); Signing is null when only
/// authentication was asked for. <see cref="Expires"/> is the card's expiry after the
/// personalisation (the one it already carried, or the one given).
/// </summary>
public sealed record CardRequests(string? SigningCsrPem, string AuthenticationCsrPem, DateOnly? Expires = null);

/// <summary>
/// The card software: a simulated JPKI IC card is two SoftHSM tokens ({label}-S signing,
/// {label}-A authentication) plus a state file with the wrong-PIN counters. Every operation
/// opens the token it needs, logs in with the holder's PIN and closes all its sessions before it
/// returns: PKCS#11 login is per token, so a token left open would accept any later PIN
/// (CKR_USER_ALREADY_LOGGED_IN). Operations on one card are serialised for the same reason.
/// </summary>
public sealed class CardReader(Pkcs11Module module, CardStore store, TimeProvider time)
{
    public const string SigningKeyLabel = "signing-key";
    public const string AuthenticationKeyLabel = "authentication-key";

    private readonly ConcurrentDictionary<string, Lock> _cardLocks = new(StringComparer.Ordinal);

    public CardStore Store => store;

    public static string TokenLabel(string cardLabel, CardApplication application) =>
        cardLabel + (application == CardApplication.Signing ? "-S" : "-A");

    public static string KeyLabel(CardApplication application) =>
        application == CardApplication.Signing ? SigningKeyLabel : AuthenticationKeyLabel;

    /// <summary>
    /// Makes a blank card: both tokens initialised with a random security-officer PIN (kept in the
    /// store, 0600) and a random transport PIN nobody is told; the holder's PINs are set at enrolment.
    /// With <paramref name="expires"/> the card carries that expiry from the start (a personalisation
    /// keeps it); without, it gets one when it is personalised for a resident.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="expires"/> is not after today (JST); nothing was made.</exception>
    public string CreateBlank(DateOnly? expires = null)
    {
        if (expires is { } date && date <= CardExpiry.JstDate(time.GetUtcNow()))
        {
            throw new ArgumentOutOfRangeException(nameof(expires), date, $"a card's expiry must be after today (JST), not {date:yyyy-MM-dd}");
        }

        store.EnsureDirectory();
        var label = CardStore.NewLabel();
        var soPin = Encoding.ASCII.GetBytes(Convert.ToHexString(RandomNumberGenerator.GetBytes(16)));
        store.SaveSecurityOfficerPin(label, soPin);
        try
        {
            foreach (var application in new[] { CardApplication.Signing, CardApplication.Authentication })
            {
                var transportPin = Encoding.ASCII.GetBytes(Convert.ToHexString(RandomNumberGenerator.GetBytes(16)));
                HsmToken.Initialise(module, TokenLabel(label, application), soPin, transportPin);
                Array.Clear(transportPin);
            }

            store.Save(new CardState(label, time.GetUtcNow(), 0, 0, Personalised: false, expires));
        }
        catch (CardStoreFullException)
        {
            // No state file: the card is not in the store; its PIN file goes too (tokens without a
            // state are never listed and the label is never used again).
            store.RemoveSecurityOfficerPin(label);
            throw;
        }
        finally
        {
            Array.Clear(soPin);
        }

        return label;
    }

    /// <summary>Every card in the store whose tokens this process can see.</summary>
    public IReadOnlyList<CardSummary> List() =>
        store.Labels().Where(IsVisible).Select(Describe).ToList();

    /// <summary>Whether this process's module sees the card's tokens (SoftHSM only sees tokens that existed when it was loaded).</summary>
    public bool IsVisible(string label) => module.TokenLabels().Contains(TokenLabel(label, CardApplication.Authentication));

    public CardSummary Describe(string label)
    {
        var state = store.Load(label);
        var certificates = Certificates(label);
        var status = (state.IsLocked(CardApplication.Signing), state.IsLocked(CardApplication.Authentication)) switch
        {
            (true, true) => "locked",
            (true, false) => "signing-locked",
            (false, true) => "authentication-locked",
            _ => state.Personalised ? "personalised" : "blank",
        };
        return new CardSummary(label, status, certificates, state.Expires, state.MunicipalityCode);
    }

    /// <summary>The certificates on the card, read without a PIN.</summary>
    /// <exception cref="CardNotFoundException">no such card in the store.</exception>
    public IReadOnlyList<CardCertificate> Certificates(string label)
    {
        if (!store.Exists(label))
        {
            throw new CardNotFoundException(label);
        }

        var result = new List<CardCertificate>();
        foreach (var application in new[] { CardApplication.Signing, CardApplication.Authentication })
        {
            foreach (var (_, der) in HsmToken.ReadCertificates(module, TokenLabel(label, application)))
            {
                var certificate = new X509Certificate(der);
                result.Add(new CardCertificate(
                    application,
                    Convert.ToHexStringLower(certificate.SerialNumber.ToByteArray()),
                    new DateTimeOffset(DateTime.SpecifyKind(certificate.NotAfter, DateTimeKind.Utc)),
                    certificate.SubjectDN.ToString(),
                    der));
            }
        }

        return result;
    }

    /// <summary>
    /// Enrolment on the card: sets the holder's PINs (as the card's security officer), clears the
    /// counters, removes any old keys and certificates, generates RSA-2048 key pairs inside the
    /// tokens (non-extractable) and signs a PKCS#10 request with each. With
    /// <paramref name="signingPin"/> null only the authentication application is personalised
    /// (a holder under 15 without an override). A card without an expiry gets
    /// <paramref name="expires"/>; a card that has one keeps it (a re-issue onto the same card).
    /// </summary>
    /// <exception cref="CardPinFormatException">a PIN breaks the rules; nothing on the card changed.</exception>
    /// <exception cref="CardExpiredException">the card's expiry is before today (JST); nothing on the card changed.</exception>
    public CardRequests Personalise(string label, string? signingPin, string authenticationPin, DateOnly? expires = null, string? municipalityCode = null)
    {
        ArgumentNullException.ThrowIfNull(authenticationPin);
        EnsureFormat(CardApplication.Authentication, authenticationPin);
        if (signingPin is not null)
        {
            EnsureFormat(CardApplication.Signing, signingPin);
        }

        lock (CardLock(label))
        {
            var state = store.Load(label);
            if (state.Expires is { } expired && expired < CardExpiry.JstDate(time.GetUtcNow()))
            {
                throw new CardExpiredException(label, expired);
            }

            state = state with { Expires = state.Expires ?? expires, MunicipalityCode = municipalityCode ?? state.MunicipalityCode };
            var soPin = store.ReadSecurityOfficerPin(label);
            try
            {
                string? signingCsr = null;
                if (signingPin is not null)
                {
                    signingCsr = PersonaliseApplication(label, CardApplication.Signing, soPin, signingPin);
                    state = state.WithWrongTries(CardApplication.Signing, 0);
                }

                var authenticationCsr = PersonaliseApplication(label, CardApplication.Authentication, soPin, authenticationPin);
                state = state.WithWrongTries(CardApplication.Authentication, 0) with { Personalised = true };
                store.Save(state);
                return new CardRequests(signingCsr, authenticationCsr, state.Expires);
            }
            finally
            {
                Array.Clear(soPin);
            }
        }
    }

    /// <summary>Writes a certificate (PEM or DER) the CA issued for one of the card's keys onto the card.</summary>
    public void WriteCertificate(string label, CardApplication application, string pin, byte[] certificateDer)
    {
        lock (CardLock(label))
        {
            using var token = Login(label, application, pin);
            token.WriteCertificate(KeyLabel(application), certificateDer);
        }
    }

    /// <summary>Checks the PIN against the card, counting a wrong one.</summary>
    public void VerifyPin(string label, CardApplication application, string pin)
    {
        lock (CardLock(label))
        {
            using var token = Login(label, application, pin);
        }
    }

    /// <summary>The protection flags of a card key as the token reports them (needs the PIN, counts a wrong one).</summary>
    public KeyProtection DescribeKey(string label, CardApplication application, string pin)
    {
        lock (CardLock(label))
        {
            using var token = Login(label, application, pin);
            return token.DescribeKey(KeyLabel(application));
        }
    }

    /// <summary>
    /// A CMS (PKCS#7) detached signature over <paramref name="content"/> made with the card's
    /// signing key: SHA-256, sha256WithRSAEncryption, signed attributes, the signer's certificate included.
    /// </summary>
    /// <exception cref="CardStateException">the card holds no signing certificate.</exception>
    public byte[] SignDetached(string label, string pin, FileInfo content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var certificate = Certificates(label).FirstOrDefault(c => c.Application == CardApplication.Signing)
            ?? throw new CardStateException($"card '{label}' holds no signing certificate");
        var signerCertificate = new X509Certificate(certificate.Der);
        lock (CardLock(label))
        {
            using var token = Login(label, CardApplication.Signing, pin);
            using var pool = token.CreatePool("card-signing", 1);
            using var signer = Pkcs11Signer.Open(pool, SigningKeyLabel);
            var generator = new CmsSignedDataGenerator();
            generator.AddSignerInfoGenerator(new SignerInfoGeneratorBuilder().Build(
                new SignerSignatureFactory(signer, SignatureAlgorithm.RsaPkcs1Sha256), signerCertificate));
            generator.AddCertificates(CollectionUtilities.CreateStore(new[] { signerCertificate }));
            return generator.Generate(new CmsProcessableFile(content), encapsulate: false).GetEncoded("DER");
        }
    }

    /// <summary>
    /// A login: signs <paramref name="data"/> (what a service's challenge says to sign) with the
    /// card's user-authentication key, sha256WithRSAEncryption, and returns the raw signature
    /// with the authentication certificate (which a reader shows without a PIN).
    /// </summary>
    /// <exception cref="CardStateException">the card holds no user-authentication certificate.</exception>
    public (byte[] Signature, byte[] CertificateDer) SignWithAuthenticationKey(string label, string pin, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        var certificate = Certificates(label).FirstOrDefault(c => c.Application == CardApplication.Authentication)
            ?? throw new CardStateException($"card '{label}' holds no user-authentication certificate");
        lock (CardLock(label))
        {
            using var token = Login(label, CardApplication.Authentication, pin);
            using var pool = token.CreatePool("card-authentication", 1);
            using var signer = Pkcs11Signer.Open(pool, AuthenticationKeyLabel);
            return (signer.Sign(SignatureAlgorithm.RsaPkcs1Sha256, data), certificate.Der);
        }
    }

    private string PersonaliseApplication(string label, CardApplication application, byte[] soPin, string pin)
    {
        var tokenLabel = TokenLabel(label, application);
        var pinBytes = Encoding.ASCII.GetBytes(pin);
        try
        {
            HsmToken.SetUserPin(module, tokenLabel, soPin, pinBytes);
            using var token = HsmToken.Open(module, tokenLabel, PinSource.FromTyped(pinBytes));
            token.DestroyAllObjects();
            var keyLabel = KeyLabel(application);
            var spki = token.GenerateKeyPair(KeyKind.Rsa, keyLabel, 2048);
            using var pool = token.CreatePool("card-enrolment", 1);
            using var signer = Pkcs11Signer.Open(pool, keyLabel);
            var request = new Pkcs10CertificationRequest(
                new SignerSignatureFactory(signer, SignatureAlgorithm.RsaPkcs1Sha256),
                new X509Name("C=JP, CN=" + tokenLabel),
                PublicKeyFactory.CreateKey(spki),
                null);
            return Pem("CERTIFICATE REQUEST", request.GetEncoded());
        }
        finally
        {
            Array.Clear(pinBytes);
        }
    }

    /// <summary>Logs in to one application, refusing a locked one and counting a wrong PIN before reporting it.</summary>
    private HsmToken Login(string label, CardApplication application, string pin)
    {
        ArgumentNullException.ThrowIfNull(pin);
        var state = store.Load(label);
        if (state.IsLocked(application))
        {
            throw new CardLockedException(application);
        }

        EnsureFormat(application, pin);
        // The try is counted before the PIN reaches the token, as a card's chip does: a store that
        // cannot record it (its disk full: CardStoreFullException) refuses the try, so no wrong PIN
        // is ever tried uncounted (decision 0821). A right PIN puts the count back.
        var wrong = state.WrongTries(application) + 1;
        store.Save(state.WithWrongTries(application, wrong));
        var pinBytes = Encoding.ASCII.GetBytes(pin);
        try
        {
            var token = HsmToken.Open(module, TokenLabel(label, application), PinSource.FromTyped(pinBytes));
            try
            {
                store.Save(state.WithWrongTries(application, 0));
            }
            catch (CardStoreFullException)
            {
                token.Dispose();
                throw;
            }

            return token;
        }
        catch (HsmWrongPinException)
        {
            var left = PinRules.MaxWrongTries(application) - wrong;
            if (left <= 0)
            {
                throw new CardLockedException(application);
            }

            throw new CardWrongPinException(application, left);
        }
        finally
        {
            Array.Clear(pinBytes);
        }
    }

    private static void EnsureFormat(CardApplication application, string pin)
    {
        var problem = PinRules.Check(application, pin);
        if (problem != PinProblem.None)
        {
            throw new CardPinFormatException(application, problem);
        }
    }

    private Lock CardLock(string label) => _cardLocks.GetOrAdd(label, _ => new Lock());

    public static string Pem(string type, byte[] der) =>
        $"-----BEGIN {type}-----\n{Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks)}\n-----END {type}-----\n";
}
