using Jpki.Hsm;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Jpki.Core.Profiles;

/// <summary>What varies between delegated OCSP responder certificates of one issuer.</summary>
public sealed record ResponderCertificateRequest
{
    /// <summary>The responder key's DER SubjectPublicKeyInfo (<see cref="ISigner.SubjectPublicKeyInfo"/>): RSA ≥ 2048 or P-256.</summary>
    public required byte[] ResponderPublicKey { get; init; }

    public required BigInteger SerialNumber { get; init; }

    public required DateTimeOffset IssuedAt { get; init; }

    /// <summary>Counts responder keys of this issuer (1, 2, …); shown in the CN.</summary>
    public required int Generation { get; init; }

    /// <summary>90 days by default (renewed at 60, docs/jpki-profile.md §8).</summary>
    public TimeSpan Validity { get; init; } = TimeSpan.FromDays(90);

    /// <summary>
    /// notBefore is this much before issuance so that verifiers whose clocks run slightly behind
    /// accept responses signed right after a renewal.
    /// </summary>
    public TimeSpan Backdate { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// Builds the delegated OCSP responder certificate of docs/jpki-profile.md §8, issued and signed by an
/// issuer root: subject = the issuer DN plus a CN naming generation and date; keyUsage (critical
/// digitalSignature), extendedKeyUsage id-kp-OCSPSigning, id-pkix-ocsp-nocheck, AKI = issuer SKI,
/// SKI, and the issuer root's CRL distribution point (its ARL, which lists a compromised responder
/// certificate, decision 0420); no basicConstraints (an end-entity certificate).
/// </summary>
public sealed class ResponderCertificateBuilder
{
    private readonly IssuingRootKey _issuer;

    /// <param name="issuerCertificate">The issuer root, DER.</param>
    /// <param name="issuerSigner">The root's key; must be the key the root certificate certifies.</param>
    /// <param name="algorithm">The issuer's signature algorithm (sha256WithRSAEncryption for JPKI).</param>
    /// <exception cref="ArgumentException">
    /// Key kind and algorithm differ, the signer's key is not the certificate's, or the issuer has no SKI.
    /// </exception>
    public ResponderCertificateBuilder(byte[] issuerCertificate, ISigner issuerSigner, SignatureAlgorithm algorithm) =>
        _issuer = new IssuingRootKey(issuerCertificate, issuerSigner, algorithm, nameof(issuerCertificate), nameof(issuerSigner));

    /// <summary>Returns the DER certificate.</summary>
    /// <exception cref="InvalidOperationException">The issuer certificate has expired at <see cref="ResponderCertificateRequest.IssuedAt"/>.</exception>
    public byte[] Build(ResponderCertificateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        CertificateProfile.EnsureSerial(request.SerialNumber, nameof(request));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(request.Generation, nameof(request));
        if (request.Validity <= TimeSpan.Zero || request.Backdate < TimeSpan.Zero || request.Backdate >= request.Validity)
        {
            throw new ArgumentOutOfRangeException(nameof(request), "validity must be positive and the backdate shorter than it");
        }

        var publicKey = CertificateProfile.ParsePublicKey(request.ResponderPublicKey, nameof(request));
        CertificateProfile.EnsureSupportedKey(publicKey, nameof(request));

        var issuedAt = Jst.TruncateToSeconds(request.IssuedAt);
        var issuerNotBefore = _issuer.NotBefore;
        var issuerNotAfter = _issuer.NotAfter;
        if (issuedAt >= issuerNotAfter)
        {
            throw new InvalidOperationException($"the issuer certificate expired at {issuerNotAfter:u}; it cannot certify a responder at {issuedAt:u}");
        }

        // A certificate must not claim validity outside its issuer's (RFC 5280 path validation
        // does not check it, but JPKI-PROFILE §8 and verifiers' expectations do).
        var notBefore = Max(issuedAt - request.Backdate, issuerNotBefore);
        var notAfter = Min(notBefore + request.Validity, issuerNotAfter);

        var subject = JpkiNames.OcspResponder(_issuer.Certificate.SubjectDN, request.Generation, Jst.DateOf(issuedAt));

        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(request.SerialNumber);
        generator.SetIssuerDN(_issuer.Certificate.SubjectDN);
        generator.SetSubjectDN(subject);
        generator.SetNotBefore(notBefore.UtcDateTime);
        generator.SetNotAfter(notAfter.UtcDateTime);
        generator.SetSubjectPublicKeyInfo(publicKey);

        generator.AddExtension(X509Extensions.KeyUsage, critical: true, new KeyUsage(KeyUsage.DigitalSignature));
        generator.AddExtension(X509Extensions.ExtendedKeyUsage, critical: false, new ExtendedKeyUsage(KeyPurposeID.id_kp_OCSPSigning));

        // RFC 6960 §4.2.2.2.1: verifiers need not check this certificate's revocation (the
        // short validity is the control instead).
        generator.AddExtension(OcspObjectIdentifiers.PkixOcspNocheck, critical: false, DerNull.Instance);
        generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, critical: false, new AuthorityKeyIdentifier(_issuer.KeyIdentifier));
        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, critical: false, CertificateProfile.KeyIdentifier(publicKey));

        // The issuer's ARL, where a compromised responder certificate is listed (decision 0420):
        // relying parties that check the responder certificate despite nocheck find that CRL in
        // scope (its distribution point is the one the ARL's IDP names).
        if (_issuer.Certificate.CertificateStructure.TbsCertificate.Extensions?.GetExtension(X509Extensions.CrlDistributionPoints) is { } arl)
        {
            generator.AddExtension(X509Extensions.CrlDistributionPoints, critical: false, arl.GetParsedValue());
        }

        return _issuer.Sign(generator);
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
