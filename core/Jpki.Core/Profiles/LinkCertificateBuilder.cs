using Jpki.Hsm;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Jpki.Core.Profiles;

/// <summary>Which way a link certificate points (RFC 4210 §4.4).</summary>
public enum LinkDirection
{
    /// <summary>The new generation's key, signed by the old one: for verifiers anchored on the old root.</summary>
    NewWithOld,

    /// <summary>The old generation's key, signed by the new one: for verifiers anchored on the new root.</summary>
    OldWithNew,
}

/// <summary>What varies between link certificates of one issuer.</summary>
public sealed record LinkCertificateRequest
{
    public required LinkDirection Direction { get; init; }

    public required IssuerKind Kind { get; init; }

    public required Prefecture Prefecture { get; init; }

    /// <summary>The root whose key the link certifies (the new root for NewWithOld, the old one for OldWithNew), DER.</summary>
    public required byte[] SubjectRoot { get; init; }

    public required BigInteger SerialNumber { get; init; }

    /// <summary>The signing generation's ARL (docs/jpki-profile.md §10: a link is revoked on the ARL of the key that signed it).</summary>
    public required string ArlUrl { get; init; }
}

/// <summary>
/// Builds the link certificates of docs/jpki-profile.md §10 between two generations of one issuer:
/// issuer = subject = the shared DN (self-issued, not self-signed), the root's extensions in the
/// root's order (<see cref="RootCertificateBuilder"/>) plus an AKI naming the signing key, SKI =
/// the certified root's SKI. Validity: NewWithOld from the new root's notBefore to the old root's
/// notAfter; OldWithNew the old root's own. Every certificate it returns has passed
/// <see cref="LinkCertificateLint"/> (an AKI that differs from the SKI, or OpenSSL takes it for self-signed).
/// </summary>
public sealed class LinkCertificateBuilder
{
    private readonly IssuingRootKey _root;

    /// <param name="signerRoot">The root of the key that signs (DER).</param>
    /// <param name="signer">That key; must be the key <paramref name="signerRoot"/> certifies.</param>
    /// <param name="algorithm">sha256WithRSAEncryption for JPKI roots.</param>
    /// <exception cref="ArgumentException">The signer's key is not the root's, or the root has no SKI.</exception>
    public LinkCertificateBuilder(byte[] signerRoot, ISigner signer, SignatureAlgorithm algorithm) =>
        _root = new IssuingRootKey(signerRoot, signer, algorithm, nameof(signerRoot), nameof(signer));

    /// <summary>Returns the DER certificate.</summary>
    /// <exception cref="ArgumentException">The two roots are of different DNs, or of one key.</exception>
    /// <exception cref="LinkCertificateLintException">The certificate built breaks the profile (never signed out).</exception>
    public byte[] Build(LinkCertificateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Prefecture);
        ArgumentNullException.ThrowIfNull(request.SubjectRoot);
        CertificateProfile.EnsureSerial(request.SerialNumber, nameof(request));
        var arlUrl = RootCertificateBuilder.CheckArlUrl(request.ArlUrl);
        var subjectRoot = CertificateProfile.ParseCertificate(request.SubjectRoot, nameof(request));
        var signerRoot = _root.Certificate;
        var name = JpkiNames.Issuer(request.Kind, request.Prefecture);
        if (!subjectRoot.SubjectDN.Equivalent(signerRoot.SubjectDN, inOrder: true) || !subjectRoot.SubjectDN.Equivalent(name, inOrder: true))
        {
            throw new ArgumentException($"a link certificate joins two generations of one DN: '{subjectRoot.SubjectDN}' and '{signerRoot.SubjectDN}' (expected '{name}')", nameof(request));
        }

        var subjectKeyIdentifier = CertificateProfile.KeyIdentifierOf(subjectRoot)
            ?? throw new ArgumentException("the certified root has no subjectKeyIdentifier", nameof(request));
        if (subjectKeyIdentifier.AsSpan().SequenceEqual(_root.KeyIdentifier))
        {
            throw new ArgumentException("a link certificate joins two different keys; both roots have one key identifier", nameof(request));
        }

        var (notBefore, notAfter) = request.Direction switch
        {
            LinkDirection.NewWithOld => (subjectRoot.NotBefore, signerRoot.NotAfter),
            LinkDirection.OldWithNew => (subjectRoot.NotBefore, subjectRoot.NotAfter),
            _ => throw new ArgumentOutOfRangeException(nameof(request), request.Direction, "unknown link direction"),
        };

        var generator = new X509V3CertificateGenerator();
        generator.SetSerialNumber(request.SerialNumber);
        generator.SetIssuerDN(name);
        generator.SetSubjectDN(name);
        generator.SetNotBefore(notBefore.ToUniversalTime());
        generator.SetNotAfter(notAfter.ToUniversalTime());
        generator.SetSubjectPublicKeyInfo(subjectRoot.CertificateStructure.SubjectPublicKeyInfo);
        RootCertificateBuilder.AddCaExtensions(generator, request.Kind, request.Prefecture, subjectKeyIdentifier, _root.KeyIdentifier, arlUrl);

        var der = _root.Sign(generator);
        LinkCertificateLint.Enforce(der, signerRoot, subjectRoot);
        return der;
    }
}

/// <summary>A link certificate that breaks docs/jpki-profile.md §10; nothing is stored.</summary>
public sealed class LinkCertificateLintException(string message) : Exception(message);

/// <summary>
/// The checks a link certificate must pass before it is stored (docs/jpki-profile.md §10 and its
/// pitfalls 2 and 4): self-issued with the roots' DN, an AKI key identifier equal to the signing
/// root's SKI and different from its own SKI, SKI = the certified root's SKI, the certified
/// root's public key, basicConstraints critical cA, keyUsage critical keyCertSign + cRLSign,
/// no certificatePolicies, a validity inside both roots', and a signature the signing root verifies.
/// </summary>
public static class LinkCertificateLint
{
    /// <exception cref="LinkCertificateLintException">The first rule broken.</exception>
    public static void Enforce(byte[] der, X509Certificate signerRoot, X509Certificate subjectRoot)
    {
        ArgumentNullException.ThrowIfNull(der);
        ArgumentNullException.ThrowIfNull(signerRoot);
        ArgumentNullException.ThrowIfNull(subjectRoot);
        var link = new X509Certificate(der);
        Require(link.IssuerDN.Equivalent(link.SubjectDN, inOrder: true) && link.SubjectDN.Equivalent(signerRoot.SubjectDN, inOrder: true), "issuer, subject and both roots share one DN");
        var aki = link.GetExtensionValue(X509Extensions.AuthorityKeyIdentifier) is { } akiValue
            ? AuthorityKeyIdentifier.GetInstance(X509ExtensionUtilities.FromExtensionValue(akiValue)).KeyIdentifier?.GetOctets()
            : null;
        var ski = CertificateProfile.KeyIdentifierOf(link);
        Require(aki is not null, "an AKI key identifier is present");
        Require(ski is not null, "an SKI is present");
        Require(!aki!.AsSpan().SequenceEqual(ski!), "the AKI differs from the SKI (else OpenSSL takes it for self-signed)");
        Require(aki.AsSpan().SequenceEqual(CertificateProfile.KeyIdentifierOf(signerRoot)), "the AKI is the signing root's SKI");
        Require(ski.AsSpan().SequenceEqual(CertificateProfile.KeyIdentifierOf(subjectRoot)), "the SKI is the certified root's SKI");
        Require(link.CertificateStructure.SubjectPublicKeyInfo.Equals(subjectRoot.CertificateStructure.SubjectPublicKeyInfo), "the public key is the certified root's");
        Require(link.GetCriticalExtensionOids().Contains(X509Extensions.BasicConstraints.Id) && link.GetBasicConstraints() >= 0, "basicConstraints is critical with cA=TRUE");
        var usage = link.GetKeyUsage();
        Require(link.GetCriticalExtensionOids().Contains(X509Extensions.KeyUsage.Id) && usage is not null && usage[5] && usage[6], "keyUsage is critical with keyCertSign and cRLSign");
        Require(link.GetExtensionValue(X509Extensions.CertificatePolicies) is null, "no certificatePolicies, as in the roots");
        Require(link.NotBefore >= subjectRoot.NotBefore && link.NotAfter <= subjectRoot.NotAfter && link.NotAfter <= signerRoot.NotAfter, "the validity lies inside both roots'");
        try
        {
            link.Verify(signerRoot.GetPublicKey());
        }
        catch (Exception e) when (e is Org.BouncyCastle.Security.InvalidKeyException or Org.BouncyCastle.Security.Certificates.CertificateException or Org.BouncyCastle.Security.SignatureException)
        {
            throw new LinkCertificateLintException($"link certificate lint: the signing root does not verify the signature ({e.Message})");
        }
    }

    private static void Require(bool holds, string rule)
    {
        if (!holds)
        {
            throw new LinkCertificateLintException($"link certificate lint: {rule}");
        }
    }
}
