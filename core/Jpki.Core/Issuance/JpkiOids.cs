namespace Jpki.Core.Issuance;

/// <summary>Object identifiers of the JPKI end-entity profile (docs/jpki-profile.md §3–5), as dotted text.</summary>
public static class JpkiOids
{
    public const string SigningPolicy = "1.2.392.200149.8.5.1.1.20";
    public const string AuthenticationPolicy = "1.2.392.200149.8.5.1.3.30";

    /// <summary>氏名.</summary>
    public const string Name = "1.2.392.200149.8.5.5.1";

    /// <summary>氏名代替文字の使用位置.</summary>
    public const string NameSubstitutes = "1.2.392.200149.8.5.5.2";

    /// <summary>性別.</summary>
    public const string Sex = "1.2.392.200149.8.5.5.3";

    /// <summary>生年月日.</summary>
    public const string DateOfBirth = "1.2.392.200149.8.5.5.4";

    /// <summary>住所.</summary>
    public const string Address = "1.2.392.200149.8.5.5.5";

    /// <summary>住所代替文字の使用位置.</summary>
    public const string AddressSubstitutes = "1.2.392.200149.8.5.5.6";

    /// <summary>The otherName order of the real certificates: .1 .4 .3 .5 .2 .6.</summary>
    public static readonly IReadOnlyList<string> SubjectAltNameOrder =
        [Name, DateOfBirth, Sex, Address, NameSubstitutes, AddressSubstitutes];

    public const string Sha256WithRsaEncryption = "1.2.840.113549.1.1.11";
    public const string RsaEncryption = "1.2.840.113549.1.1.1";
    public const string IdQtCps = "1.3.6.1.5.5.7.2.1";
    public const string IdAdOcsp = "1.3.6.1.5.5.7.48.1";

    public const string KeyUsage = "2.5.29.15";
    public const string CertificatePolicies = "2.5.29.32";
    public const string SubjectAltName = "2.5.29.17";
    public const string IssuerAltName = "2.5.29.18";
    public const string CrlDistributionPoints = "2.5.29.31";
    public const string AuthorityKeyIdentifier = "2.5.29.35";
    public const string AuthorityInfoAccess = "1.3.6.1.5.5.7.1.1";
    public const string SubjectKeyIdentifier = "2.5.29.14";

    public const string CountryName = "2.5.4.6";
    public const string LocalityName = "2.5.4.7";
    public const string OrganizationName = "2.5.4.10";
    public const string OrganizationalUnitName = "2.5.4.11";
    public const string CommonName = "2.5.4.3";

    /// <summary>The policy of a certificate kind.</summary>
    public static string PolicyOf(Profiles.IssuerKind kind) =>
        kind == Profiles.IssuerKind.Signing ? SigningPolicy : AuthenticationPolicy;

    /// <summary>Extensions in profile order, with their criticality.</summary>
    public static IReadOnlyList<(string Oid, bool Critical)> ExtensionsOf(Profiles.IssuerKind kind) => kind == Profiles.IssuerKind.Signing
        ?
        [
            (KeyUsage, true), (CertificatePolicies, true), (SubjectAltName, false), (IssuerAltName, false),
            (CrlDistributionPoints, false), (AuthorityKeyIdentifier, false), (AuthorityInfoAccess, false), (SubjectKeyIdentifier, false),
        ]
        :
        [
            (KeyUsage, true), (CertificatePolicies, true), (IssuerAltName, false),
            (CrlDistributionPoints, false), (AuthorityKeyIdentifier, false), (AuthorityInfoAccess, false), (SubjectKeyIdentifier, false),
        ];
}
