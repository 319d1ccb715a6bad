using System.Security.Cryptography;
using Jpki.Hsm;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Jpki.Tsa;

/// <summary>
/// The TSA's own certificate: self-signed by its HSM key, not a CA (basicConstraints cA false),
/// keyUsage digitalSignature + nonRepudiation, extendedKeyUsage id-kp-timeStamping alone and
/// critical (RFC 3161 §2.3). It is its own trust anchor, distributed beside the roots; the CA's
/// issuer keys certify residents and responders only (docs/decisions/0350).
/// </summary>
public static class TsaCertificate
{
    /// <summary>The label of the TSA key in the install's token.</summary>
    public const string KeyLabel = "tsa-1";

    public static X509Certificate Build(ISigner signer, string installName, DateTimeOffset now, int validityYears = 10)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentException.ThrowIfNullOrEmpty(installName);
        var name = new X509Name($"C=JP,O=JPKI {installName},CN=JPKI Time-Stamping Authority 1");
        var publicKey = PublicKeyFactory.CreateKey(signer.SubjectPublicKeyInfo);
        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(new BigInteger(1, RandomNumberGenerator.GetBytes(16)));
        generator.SetIssuerDN(name);
        generator.SetSubjectDN(name);
        generator.SetNotBefore(now.UtcDateTime.AddMinutes(-5));
        generator.SetNotAfter(now.UtcDateTime.AddYears(validityYears));
        generator.SetPublicKey(publicKey);
        generator.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(false));
        generator.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(KeyUsage.DigitalSignature | KeyUsage.NonRepudiation));
        generator.AddExtension(X509Extensions.ExtendedKeyUsage, true, new ExtendedKeyUsage(KeyPurposeID.id_kp_timeStamping));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, false, X509ExtensionUtilities.CreateSubjectKeyIdentifier(publicKey));
        return generator.Generate(new SignerSignatureFactory(signer, SignatureAlgorithm.DefaultFor(signer.KeyKind)));
    }

    /// <summary>The certificate as PEM.</summary>
    public static string Pem(X509Certificate certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return PemEncoding.WriteString("CERTIFICATE", certificate.GetEncoded()) + "\n";
    }
}
