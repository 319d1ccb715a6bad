using Jpki.Hsm;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Jpki.Core.Profiles;

/// <summary>Checks and steps the certificate builders of this namespace share.</summary>
internal static class CertificateProfile
{
    /// <summary>Upper bound on configured validity in years; longer is certainly a typo.</summary>
    public const int MaxValidityYears = 30;

    public static SubjectPublicKeyInfo ParsePublicKey(byte[] subjectPublicKeyInfo, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(subjectPublicKeyInfo, parameterName);
        try
        {
            return SubjectPublicKeyInfo.GetInstance(Asn1Object.FromByteArray(subjectPublicKeyInfo));
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidCastException)
        {
            throw new ArgumentException("not a DER SubjectPublicKeyInfo", parameterName, e);
        }
    }

    /// <summary>
    /// Accepts only the key types the CA certifies: RSA of at least 2048 bits, or EC P-256.
    /// </summary>
    public static void EnsureSupportedKey(SubjectPublicKeyInfo publicKey, string parameterName)
    {
        var algorithm = publicKey.Algorithm.Algorithm;
        if (algorithm.Equals(PkcsObjectIdentifiers.RsaEncryption))
        {
            var rsa = RsaPublicKeyStructure.GetInstance(publicKey.ParsePublicKey());
            if (rsa.Modulus.BitLength < 2048)
            {
                throw new ArgumentException($"RSA key of {rsa.Modulus.BitLength} bits is below the 2048-bit minimum", parameterName);
            }

            return;
        }

        if (algorithm.Equals(X9ObjectIdentifiers.IdECPublicKey)
            && X9ObjectIdentifiers.Prime256v1.Equals(publicKey.Algorithm.Parameters))
        {
            return;
        }

        throw new ArgumentException($"public key algorithm {algorithm} (parameters {publicKey.Algorithm.Parameters}) is neither RSA nor EC P-256", parameterName);
    }

    public static void EnsureValidityYears(int years, string parameterName)
    {
        if (years is < 1 or > MaxValidityYears)
        {
            throw new ArgumentOutOfRangeException(parameterName, years, $"validity must be 1–{MaxValidityYears} years");
        }
    }

    public static void EnsureSerial(Org.BouncyCastle.Math.BigInteger serial, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(serial, parameterName);
        if (serial.SignValue <= 0 || serial.ToByteArray().Length > 20)
        {
            throw new ArgumentOutOfRangeException(parameterName, "serial must be positive and at most 20 octets (RFC 5280 §4.1.2.2)");
        }
    }

    /// <summary>
    /// notAfter of a long-lived certificate: 23:59:59 JST on the Nth anniversary of the JST issue
    /// date — the same rule the profile uses for end-entity certificates (the 5th birthday).
    /// </summary>
    public static DateTimeOffset AnniversaryEndOfDay(DateTimeOffset issuedAt, int years) =>
        Jst.EndOfDay(Jst.DateOf(issuedAt).AddYears(years));

    /// <exception cref="ArgumentException">Not a DER X.509 certificate.</exception>
    public static X509Certificate ParseCertificate(byte[] der, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(der, parameterName);
        try
        {
            return new X509Certificate(der);
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidCastException or Org.BouncyCastle.Security.Certificates.CertificateException)
        {
            throw new ArgumentException("not a DER X.509 certificate", parameterName, e);
        }
    }

    /// <summary>The certificate's subjectKeyIdentifier, or null when it has none.</summary>
    public static byte[]? KeyIdentifierOf(X509Certificate certificate) =>
        certificate.GetExtensionValue(X509Extensions.SubjectKeyIdentifier) is { } ski
            ? SubjectKeyIdentifier.GetInstance(X509ExtensionUtilities.FromExtensionValue(ski)).GetKeyIdentifier()
            : null;

    public static SubjectKeyIdentifier KeyIdentifier(SubjectPublicKeyInfo publicKey) =>
        X509ExtensionUtilities.CreateSubjectKeyIdentifier(publicKey);

    public static byte[] Sign(X509V3CertificateGenerator generator, ISigner signer, SignatureAlgorithm algorithm) =>
        generator.Generate(new SignerSignatureFactory(signer, algorithm)).GetEncoded();

    /// <summary>
    /// A generator for a self-signed certificate (roots, the audit-checkpoint key): serial,
    /// subject = issuer, notBefore = <paramref name="issuedAt"/> to the second, notAfter =
    /// 23:59:59 JST of the <paramref name="validityYears"/>th anniversary, and the key. The caller
    /// adds its extensions in its profile's order.
    /// </summary>
    public static X509V3CertificateGenerator SelfSigned(Org.BouncyCastle.Math.BigInteger serial, X509Name name, DateTimeOffset issuedAt, int validityYears, SubjectPublicKeyInfo publicKey)
    {
        var notBefore = Jst.TruncateToSeconds(issuedAt);
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(serial);
        generator.SetIssuerDN(name);
        generator.SetSubjectDN(name);
        generator.SetNotBefore(notBefore.UtcDateTime);
        generator.SetNotAfter(AnniversaryEndOfDay(notBefore, validityYears).UtcDateTime);
        generator.SetSubjectPublicKeyInfo(publicKey);
        return generator;
    }
}

/// <summary>
/// A key that certifies itself (roots, the audit-checkpoint key): the signer, its algorithm and
/// its public key, checked once — the algorithm fits the key, and the key is RSA ≥ 2048 or P-256.
/// </summary>
internal sealed class SelfSigningKey
{
    /// <exception cref="ArgumentException">The key kind does not fit the algorithm, or the key is not supported.</exception>
    public SelfSigningKey(ISigner signer, SignatureAlgorithm algorithm, string parameterName)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(algorithm);
        SignerSignatureFactory.EnsureCompatible(signer, algorithm);
        PublicKey = CertificateProfile.ParsePublicKey(signer.SubjectPublicKeyInfo, parameterName);
        CertificateProfile.EnsureSupportedKey(PublicKey, parameterName);
        Signer = signer;
        Algorithm = algorithm;
    }

    public ISigner Signer { get; }

    public SignatureAlgorithm Algorithm { get; }

    public SubjectPublicKeyInfo PublicKey { get; }

    /// <summary>A generator for a self-signed certificate of this key (serial, name as issuer and subject, validity).</summary>
    public X509V3CertificateGenerator Generator(Org.BouncyCastle.Math.BigInteger serial, X509Name name, DateTimeOffset issuedAt, int validityYears) =>
        CertificateProfile.SelfSigned(serial, name, issuedAt, validityYears, PublicKey);

    public byte[] Sign(X509V3CertificateGenerator generator) => CertificateProfile.Sign(generator, Signer, Algorithm);
}


/// <summary>
/// A root and its HSM key that certifies other keys (link certificates, OCSP responder
/// certificates): the certificate parsed once, the signer checked once to be the key the root
/// certifies (a signature by another key would make certificates no verifier accepts), and the
/// root's subjectKeyIdentifier that the issued certificates' AKI names.
/// </summary>
internal sealed class IssuingRootKey
{
    /// <exception cref="ArgumentException">
    /// The root is not DER X.509, the key kind does not fit the algorithm, the signer's key is not
    /// the root's, or the root has no subjectKeyIdentifier.
    /// </exception>
    public IssuingRootKey(byte[] rootCertificate, ISigner signer, SignatureAlgorithm algorithm, string rootParameterName, string signerParameterName)
    {
        ArgumentNullException.ThrowIfNull(rootCertificate, rootParameterName);
        ArgumentNullException.ThrowIfNull(signer, signerParameterName);
        ArgumentNullException.ThrowIfNull(algorithm);
        SignerSignatureFactory.EnsureCompatible(signer, algorithm);
        Certificate = CertificateProfile.ParseCertificate(rootCertificate, rootParameterName);
        if (!Certificate.CertificateStructure.SubjectPublicKeyInfo.GetDerEncoded().AsSpan().SequenceEqual(signer.SubjectPublicKeyInfo))
        {
            throw new ArgumentException("the signer's public key is not the root certificate's public key", signerParameterName);
        }

        KeyIdentifier = CertificateProfile.KeyIdentifierOf(Certificate)
            ?? throw new ArgumentException("the root certificate has no subjectKeyIdentifier to point the AKI at", rootParameterName);
        Signer = signer;
        Algorithm = algorithm;
    }

    public X509Certificate Certificate { get; }

    /// <summary>The root's subjectKeyIdentifier: the AKI of every certificate this key issues.</summary>
    public byte[] KeyIdentifier { get; }

    public ISigner Signer { get; }

    public SignatureAlgorithm Algorithm { get; }

    public DateTimeOffset NotBefore => new(Certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);

    public DateTimeOffset NotAfter => new(Certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);

    public byte[] Sign(X509V3CertificateGenerator generator) => CertificateProfile.Sign(generator, Signer, Algorithm);
}
