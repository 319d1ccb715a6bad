using System.Formats.Asn1;
using System.Security.Cryptography;
using Jpki.Hsm;

namespace Jpki.Core.Issuance;

/// <summary>A signed end-entity certificate and what the store keeps beside it.</summary>
/// <param name="Der">The DER certificate.</param>
/// <param name="TbsSha256">SHA-256 of the TBSCertificate that was linted and signed.</param>
/// <param name="CrlDistributionPointsDer">The DER CRLDistributionPoints, for the partition CRL's issuingDistributionPoint.</param>
public sealed record IssuedCertificate(byte[] Der, byte[] TbsSha256, byte[] CrlDistributionPointsDer);

/// <summary>A linted TBSCertificate not yet signed (<see cref="CertificateIssuer.Prepare"/>).</summary>
/// <param name="TbsDer">The exact bytes the key will sign.</param>
/// <param name="TbsSha256">Their SHA-256: what the signature intent records.</param>
/// <param name="CrlDistributionPointsDer">The DER CRLDistributionPoints, as in <see cref="IssuedCertificate"/>.</param>
public sealed record PreparedCertificate(byte[] TbsDer, byte[] TbsSha256, byte[] CrlDistributionPointsDer);

/// <summary>
/// The certificate that came out of signing is not exactly what was linted (different TBS bytes,
/// or a signature that does not verify over them). Nothing may be stored or handed out.
/// </summary>
public sealed class IssuanceIntegrityException(string message) : Exception(message);

/// <summary>
/// Issues an end-entity certificate the way Boulder does: build the TBSCertificate, lint it,
/// sign those exact bytes, then take the result apart again and prove that the TBS inside it
/// is byte-identical (SHA-256) to the linted one and that the signature verifies over it with
/// the issuer certificate's key. A lint failure throws before the key is used.
/// </summary>
public static class CertificateIssuer
{
    /// <summary>
    /// Issues with a key imported for this one certificate: for tools and tests. A CA issuing
    /// many passes its <see cref="IssuerPublicKey"/> to the other overload.
    /// </summary>
    /// <inheritdoc cref="Issue(EndEntityRequest, ISigner, IssuerPublicKey)"/>
    public static IssuedCertificate Issue(EndEntityRequest request, ISigner issuerSigner)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var issuerPublicKey = new IssuerPublicKey(request.IssuerCertificate);
        return Issue(request, issuerSigner, issuerPublicKey);
    }

    /// <param name="request">What to certify, with the issuer certificate.</param>
    /// <param name="issuerSigner">The HSM key of the issuer certificate.</param>
    /// <param name="issuerPublicKey">The issuer certificate's public key, to verify the signature with.</param>
    /// <exception cref="ArgumentException">The request is invalid, or the signer's key or <paramref name="issuerPublicKey"/> is not the issuer certificate's.</exception>
    /// <exception cref="LintException">The TBS broke profile rules; nothing was signed.</exception>
    /// <exception cref="IssuanceIntegrityException">The signed certificate is not what was linted.</exception>
    public static IssuedCertificate Issue(EndEntityRequest request, ISigner issuerSigner, IssuerPublicKey issuerPublicKey) =>
        Sign(Prepare(request, issuerSigner, issuerPublicKey), issuerSigner, issuerPublicKey);

    /// <summary>
    /// Builds and lints the TBSCertificate without signing it, so that the caller can record what
    /// it is about to sign (its SHA-256) before <see cref="Sign"/> asks the key.
    /// </summary>
    /// <inheritdoc cref="Issue(EndEntityRequest, ISigner, IssuerPublicKey)"/>
    public static PreparedCertificate Prepare(EndEntityRequest request, ISigner issuerSigner, IssuerPublicKey issuerPublicKey)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(issuerSigner);
        ArgumentNullException.ThrowIfNull(issuerPublicKey);
        SignerSignatureFactory.EnsureCompatible(issuerSigner, SignatureAlgorithm.RsaPkcs1Sha256);
        var certificatePublicKey = IssuerPublicKey.Read(request.IssuerCertificate);
        if (!certificatePublicKey.AsSpan().SequenceEqual(issuerPublicKey.SubjectPublicKeyInfo))
        {
            throw new ArgumentException("the public key to verify with is not the issuer certificate's public key", nameof(issuerPublicKey));
        }

        // A signature by another key would make a certificate no verifier accepts; refuse before signing.
        if (!certificatePublicKey.AsSpan().SequenceEqual(issuerSigner.SubjectPublicKeyInfo))
        {
            throw new ArgumentException("the issuer signer's public key is not the issuer certificate's public key", nameof(issuerSigner));
        }

        var tbs = EndEntityTbsBuilder.Build(request);
        PreIssuanceLint.Enforce(tbs.Der, request);

        // The store keeps the CRL DP beside the certificate and partition CRLs copy it into their
        // issuingDistributionPoint, so it too must be the linted bytes.
        if (!new TbsDer(tbs.Der).Extension(JpkiOids.CrlDistributionPoints)!.Value.AsSpan().SequenceEqual(tbs.CrlDistributionPointsDer))
        {
            throw new IssuanceIntegrityException("the CRL distribution points handed to the store are not the linted extension's");
        }

        return new PreparedCertificate(tbs.Der, SHA256.HashData(tbs.Der), tbs.CrlDistributionPointsDer);
    }

    /// <summary>Signs exactly the prepared TBS, then proves the result is what was linted.</summary>
    /// <exception cref="IssuanceIntegrityException">The signed certificate is not what was linted.</exception>
    public static IssuedCertificate Sign(PreparedCertificate prepared, ISigner issuerSigner, IssuerPublicKey issuerPublicKey)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        ArgumentNullException.ThrowIfNull(issuerSigner);
        ArgumentNullException.ThrowIfNull(issuerPublicKey);
        var signature = issuerSigner.Sign(SignatureAlgorithm.RsaPkcs1Sha256, prepared.TbsDer);
        var certificate = Assemble(prepared.TbsDer, signature);
        EnsureSignedWhatWasLinted(prepared.TbsSha256, certificate, issuerPublicKey);
        return new IssuedCertificate(certificate, prepared.TbsSha256, prepared.CrlDistributionPointsDer);
    }

    /// <summary>Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }, with the TBS copied verbatim.</summary>
    internal static byte[] Assemble(ReadOnlySpan<byte> tbsDer, byte[] signature)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteEncodedValue(tbsDer);
            writer.WriteEncodedValue(SignatureAlgorithm.RsaPkcs1Sha256.Identifier.GetDerEncoded());
            writer.WriteBitString(signature);
        }

        return writer.Encode();
    }

    /// <summary>
    /// Boulder's "sign exactly what was linted": the TBS inside the final DER hashes to the linted
    /// TBS's SHA-256, the outer algorithm is the TBS's, and the signature verifies over it with the
    /// issuer's public key (which catches a signer that signed other bytes).
    /// </summary>
    /// <exception cref="IssuanceIntegrityException">Any of these does not hold.</exception>
    internal static void EnsureSignedWhatWasLinted(ReadOnlySpan<byte> lintedTbsSha256, byte[] certificateDer, IssuerPublicKey issuerPublicKey)
    {
        ReadOnlyMemory<byte> tbs;
        byte[] outerAlgorithm;
        byte[] signature;
        try
        {
            var reader = new AsnReader(certificateDer, AsnEncodingRules.DER);
            var certificate = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            tbs = certificate.ReadEncodedValue();
            outerAlgorithm = certificate.ReadEncodedValue().ToArray();
            signature = certificate.ReadBitString(out var unusedBits);
            certificate.ThrowIfNotEmpty();
            if (unusedBits != 0)
            {
                throw new IssuanceIntegrityException("the signature BIT STRING has unused bits");
            }
        }
        catch (AsnContentException e)
        {
            throw new IssuanceIntegrityException($"the signed certificate does not parse: {e.Message}");
        }

        if (!SHA256.HashData(tbs.Span).AsSpan().SequenceEqual(lintedTbsSha256))
        {
            throw new IssuanceIntegrityException("the TBSCertificate in the signed certificate is not the one that was linted (SHA-256 differs)");
        }

        if (!outerAlgorithm.AsSpan().SequenceEqual(SignatureAlgorithm.RsaPkcs1Sha256.Identifier.GetDerEncoded()))
        {
            throw new IssuanceIntegrityException("the certificate's signatureAlgorithm is not sha256WithRSAEncryption with NULL parameters");
        }

        if (!issuerPublicKey.VerifySha256Pkcs1(tbs.Span, signature))
        {
            throw new IssuanceIntegrityException("the signature does not verify over the linted TBSCertificate with the issuer's key");
        }
    }
}
