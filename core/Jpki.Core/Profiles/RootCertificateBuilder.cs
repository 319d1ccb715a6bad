using Jpki.Hsm;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;

namespace Jpki.Core.Profiles;

/// <summary>What varies between issuer root certificates.</summary>
public sealed record RootCertificateRequest
{
    public required IssuerKind Kind { get; init; }

    public required Prefecture Prefecture { get; init; }

    /// <summary>Normally <see cref="SerialNumbers.New"/>; the store keeps serials unique across the install.</summary>
    public required BigInteger SerialNumber { get; init; }

    /// <summary>notBefore; sub-second precision is dropped.</summary>
    public required DateTimeOffset IssuedAt { get; init; }

    /// <summary>
    /// Absolute URL of this issuer key's ARL, for cRLDistributionPoints:
    /// <c>{crlBase}/crl/{issuerKeyId}/arl.crl</c> with the store's issuer key id (docs/design.md §9).
    /// </summary>
    public required string ArlUrl { get; init; }

    public int ValidityYears { get; init; } = 10;
}

/// <summary>
/// Builds the self-signed issuer root of docs/jpki-profile.md §2: subject = issuer
/// <c>C=JP, O=JPKI, OU=&lt;kind&gt;, OU=&lt;prefecture&gt;</c>; extensions keyUsage (critical
/// keyCertSign, cRLSign), basicConstraints (critical, cA), subjectKeyIdentifier, subjectAltName
/// (Japanese directoryName), cRLDistributionPoints (ARL) in that order; no AKI.
/// </summary>
public sealed class RootCertificateBuilder
{
    private readonly SelfSigningKey _key;

    /// <param name="signer">The root's own key: the certificate certifies and is signed by it.</param>
    /// <param name="algorithm">sha256WithRSAEncryption for JPKI roots.</param>
    /// <exception cref="ArgumentException">The key kind does not fit the algorithm, or the key is not RSA ≥ 2048 / P-256.</exception>
    public RootCertificateBuilder(ISigner signer, SignatureAlgorithm algorithm)
    {
        _key = new SelfSigningKey(signer, algorithm, nameof(signer));
        SubjectKeyIdentifier = CertificateProfile.KeyIdentifier(_key.PublicKey).GetKeyIdentifier();
    }

    /// <summary>SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1).</summary>
    public byte[] SubjectKeyIdentifier { get; }

    /// <summary>Returns the DER certificate.</summary>
    public byte[] Build(RootCertificateRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(request.Prefecture);
        CertificateProfile.EnsureSerial(request.SerialNumber, nameof(request));
        CertificateProfile.EnsureValidityYears(request.ValidityYears, nameof(request));
        var arlUrl = CheckArlUrl(request.ArlUrl);

        var generator = _key.Generator(request.SerialNumber, JpkiNames.Issuer(request.Kind, request.Prefecture), request.IssuedAt, request.ValidityYears);

        AddCaExtensions(generator, request.Kind, request.Prefecture, SubjectKeyIdentifier, authorityKeyIdentifier: null, arlUrl);
        return _key.Sign(generator);
    }

    /// <summary>
    /// The extensions of an issuer's CA certificate in the profile's order (it mirrors the J-LIS
    /// roots; the generator keeps insertion order): keyUsage, basicConstraints, the AKI when the
    /// certificate is not self-signed (link certificates, docs/jpki-profile.md §10), SKI, the Japanese
    /// directoryName, cRLDistributionPoints (the signing key's ARL).
    /// </summary>
    internal static void AddCaExtensions(X509V3CertificateGenerator generator, IssuerKind kind, Prefecture prefecture, byte[] subjectKeyIdentifier, byte[]? authorityKeyIdentifier, string arlUrl)
    {
        generator.AddExtension(X509Extensions.KeyUsage, critical: true, new KeyUsage(KeyUsage.KeyCertSign | KeyUsage.CrlSign));
        generator.AddExtension(X509Extensions.BasicConstraints, critical: true, new BasicConstraints(cA: true));
        if (authorityKeyIdentifier is not null)
        {
            generator.AddExtension(X509Extensions.AuthorityKeyIdentifier, critical: false, new AuthorityKeyIdentifier(authorityKeyIdentifier));
        }

        generator.AddExtension(X509Extensions.SubjectKeyIdentifier, critical: false, new SubjectKeyIdentifier(subjectKeyIdentifier));
        generator.AddExtension(
            X509Extensions.SubjectAlternativeName,
            critical: false,
            new GeneralNames(new GeneralName(GeneralName.DirectoryName, JpkiNames.IssuerAltName(kind, prefecture))));
        generator.AddExtension(
            X509Extensions.CrlDistributionPoints,
            critical: false,
            new CrlDistPoint([
                new DistributionPoint(
                    new DistributionPointName(new GeneralNames(new GeneralName(GeneralName.UniformResourceIdentifier, arlUrl))),
                    reasons: null,
                    crlIssuer: null),
            ]));
    }

    internal static string CheckArlUrl(string url)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url, nameof(RootCertificateRequest.ArlUrl));

        // The URI goes into an IA5String and is fetched by verifiers: absolute, ASCII, http(s) or ldap.
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)
            || uri.Scheme is not ("http" or "https" or "ldap")
            || !url.All(char.IsAscii))
        {
            throw new ArgumentException($"ARL URL '{url}' is not an absolute ASCII http, https or ldap URL", nameof(url));
        }

        return url;
    }
}
