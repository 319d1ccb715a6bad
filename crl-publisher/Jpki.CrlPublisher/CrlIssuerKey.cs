using System.Security.Cryptography.X509Certificates;
using Jpki.Core.Issuers;
using Jpki.Hsm;

namespace Jpki.CrlPublisher;

/// <summary>
/// An issuer key generation as the publisher uses it: the HSM signer, and from its root
/// certificate the issuer Name bytes, the key identifier (AKI), the public key the check
/// verifies with, and the ARL's distribution point (the root's own CRL DP).
/// </summary>
public sealed class CrlIssuerKey
{
    public CrlIssuerKey(IssuerKeyRow key, ISigner signer)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(signer);
        using var certificate = X509CertificateLoader.LoadCertificate(key.CertificateDer ?? throw new ArgumentException($"issuer key {key.Id} has no certificate", nameof(key)));
        IssuerKeyId = key.Id;
        Signer = signer;
        IssuerNameDer = certificate.SubjectName.RawData;
        NotBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        NotAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        SubjectPublicKeyInfo = certificate.PublicKey.ExportSubjectPublicKeyInfo();
        if (!SubjectPublicKeyInfo.AsSpan().SequenceEqual(signer.SubjectPublicKeyInfo))
        {
            throw new InvalidOperationException($"the HSM key {key.HsmKeyLabel} is not the key of issuer key {key.Id}'s certificate");
        }

        KeyIdentifier = certificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>().SingleOrDefault()?.SubjectKeyIdentifierBytes.ToArray()
            ?? throw new InvalidOperationException($"issuer key {key.Id}'s certificate has no subjectKeyIdentifier");
        ArlDistributionPointsDer = certificate.Extensions[CrlExtensions.CrlDistributionPoints]?.RawData;
    }

    public string IssuerKeyId { get; }

    public ISigner Signer { get; }

    public byte[] IssuerNameDer { get; }

    /// <summary>The issuer certificate's notBefore: no CRL of this key is dated earlier.</summary>
    public DateTimeOffset NotBefore { get; }

    /// <summary>The root's notAfter: the nextUpdate of the final CRL of each end-entity series.</summary>
    public DateTimeOffset NotAfter { get; }

    public byte[] SubjectPublicKeyInfo { get; }

    public byte[] KeyIdentifier { get; }

    /// <summary>The root certificate's CRLDistributionPoints value (pointing at the ARL), if it has one.</summary>
    public byte[]? ArlDistributionPointsDer { get; }
}
