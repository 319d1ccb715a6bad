using Jpki.Core.Issuance;
using Jpki.Core.Profiles;
using Jpki.Core.Tests.Profiles;
using Jpki.Hsm;

namespace Jpki.Core.Tests.Issuance;

/// <summary>Standard requests for the issuance tests: Yamaguchi-ken roots on software keys, a software holder key.</summary>
internal static class IssuanceInputs
{
    public const string CrlBase = "http://127.0.0.1:8083";
    public const string OcspBase = "http://127.0.0.1:8082/";
    public const string CpsUrl = "https://www.jpki.example/cps";
    public const string MunicipalityCode = "352012";
    public const string MunicipalityName = "Yamaguchi-shi";

    /// <summary>12:30:00 JST on 1 December 2026, an hour-ish after the roots' notBefore (TestIssuers.IssuedAt).</summary>
    public static readonly DateTimeOffset IssuedAt = new(2026, 12, 1, 3, 30, 0, TimeSpan.Zero);

    public const string IssuanceId = "20261201123000000421234567AB";
    public const string AuthenticationId = "A1B2C3D4E5F6G7H8J9K0L1M";

    /// <summary>The holder's card key; an RSA-2048 software key separate from the issuer's.</summary>
    public static SoftwareSigner HolderKey => SoftwareKeys.Rsa;

    public static ResidentFacts Facts { get; } = new(
        name: "山口\u3000𠮷子",
        nameSubstitutes: "00010",
        sex: ResidentSex.Female,
        dateOfBirth: new JpkiBirthDate(3, 1980, 2, 29),
        address: "山口県山口市亀山町１－１",
        addressSubstitutes: "000000000000");

    /// <summary>A request for <paramref name="kind"/> against <paramref name="root"/> (made by <see cref="TestIssuers.Root"/>).</summary>
    public static EndEntityRequest Request(IssuerKind kind, byte[] root, DateTimeOffset? issuedAt = null)
    {
        var at = issuedAt ?? IssuedAt;
        var issuerNotAfter = new CertificateDer(root).NotAfter.Value;
        return new EndEntityRequest
        {
            Kind = kind,
            Prefecture = TestIssuers.Yamaguchi,
            MunicipalityCode = MunicipalityCode,
            MunicipalityName = MunicipalityName,
            SubjectId = kind == IssuerKind.Signing ? IssuanceId : AuthenticationId,
            SubjectPublicKeyInfo = HolderKey.SubjectPublicKeyInfo,
            SerialNumber = SerialNumbers.New(),
            Validity = CertificateValidity.Compute(at, Facts.DateOfBirth, kind, cardExpiry: null, authCertificateNotAfter: null, issuerNotAfter),
            Facts = kind == IssuerKind.Signing ? Facts : null,
            CrlBaseUrl = CrlBase,
            IssuerKeyId = StoreKeyId(kind),
            OcspBaseUrl = OcspBase,
            CpsUrl = CpsUrl,
            IssuerCertificate = root,
        };
    }

    /// <summary>The store's issuer key id the ceremony gives generation 1 of each kind; it names the key in URLs.</summary>
    public static string StoreKeyId(IssuerKind kind) => kind == IssuerKind.Signing ? "yamaguchi-ken-signing-g1" : "yamaguchi-ken-authentication-g1";

    public static byte[] Root(IssuerKind kind, DateTimeOffset? issuedAt = null) => TestIssuers.Root(kind, issuedAt);

    public static IssuedCertificate Issue(EndEntityRequest request) => CertificateIssuer.Issue(request, SoftwareKeys.Root);

    /// <summary>Lowercase hex SKI of the shared root key, as it appears in CRL URLs.</summary>
    public static string IssuerKeyId => Convert.ToHexStringLower(new RootCertificateBuilder(SoftwareKeys.Root, SignatureAlgorithm.RsaPkcs1Sha256).SubjectKeyIdentifier);
}
