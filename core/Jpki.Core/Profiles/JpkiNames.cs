using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;

namespace Jpki.Core.Profiles;

/// <summary>One AttributeTypeAndValue of a distinguished name; make them with the factories.</summary>
public readonly record struct NameEntry(DerObjectIdentifier Type, string Value)
{
    public static NameEntry Country(string value) => new(X509Name.C, value);

    public static NameEntry Organization(string value) => new(X509Name.O, value);

    public static NameEntry OrganizationalUnit(string value) => new(X509Name.OU, value);

    public static NameEntry CommonName(string value) => new(X509Name.CN, value);

    public static NameEntry Locality(string value) => new(X509Name.L, value);
}

/// <summary>
/// Distinguished names of the JPKI profile, encoded exactly: one attribute per RDN in the order
/// given, C as PrintableString, O/OU/CN/L as UTF8String. The DER is built here rather than by
/// BouncyCastle's string-parsing X509Name constructors, whose choice of string type and order
/// depends on converters and options.
/// </summary>
public static class JpkiNames
{
    public const string Country = "JP";
    public const string Organization = "JPKI";
    public const string SigningUnit = "JPKI for digital signature";
    public const string AuthenticationUnit = "JPKI for user authentication";
    public const string AltNameOrganization = "公的個人認証サービス";
    public const string SigningAltNameUnit = "公的個人認証サービス署名用";
    public const string AuthenticationAltNameUnit = "公的個人認証サービス利用者証明用";

    /// <summary>The OU naming the certificate kind in issuer and responder DNs.</summary>
    public static string KindUnit(IssuerKind kind) => kind switch
    {
        IssuerKind.Signing => SigningUnit,
        IssuerKind.Authentication => AuthenticationUnit,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown issuer kind"),
    };

    /// <summary>The OU naming the certificate kind in the issuer's Japanese directoryName.</summary>
    public static string KindAltNameUnit(IssuerKind kind) => kind switch
    {
        IssuerKind.Signing => SigningAltNameUnit,
        IssuerKind.Authentication => AuthenticationAltNameUnit,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown issuer kind"),
    };

    /// <summary>Builds a Name: SEQUENCE OF (SET OF one AttributeTypeAndValue), in the order given.</summary>
    /// <exception cref="ArgumentException">An empty or unsupported attribute, or a C that is not two printable letters.</exception>
    public static X509Name Create(params ReadOnlySpan<NameEntry> attributes)
    {
        if (attributes.IsEmpty)
        {
            throw new ArgumentException("a distinguished name needs at least one attribute", nameof(attributes));
        }

        var rdns = new Asn1EncodableVector(attributes.Length);
        foreach (var attribute in attributes)
        {
            rdns.Add(new DerSet(Encode(attribute)));
        }

        return X509Name.GetInstance(new DerSequence(rdns));
    }

    /// <summary>Issuer (root) subject and issuer: <c>C=JP, O=JPKI, OU=&lt;kind&gt;, OU=&lt;prefecture romanised&gt;</c>.</summary>
    public static X509Name Issuer(IssuerKind kind, Prefecture prefecture)
    {
        ArgumentNullException.ThrowIfNull(prefecture);
        return Create(
            NameEntry.Country(Country),
            NameEntry.Organization(Organization),
            NameEntry.OrganizationalUnit(KindUnit(kind)),
            NameEntry.OrganizationalUnit(prefecture.RomanisedName));
    }

    /// <summary>
    /// The directoryName of the issuer's subjectAltName (and of end-entity issuerAltName):
    /// <c>C=JP, O=公的個人認証サービス, OU=公的個人認証サービス署名用|利用者証明用, OU=&lt;県名&gt;</c>.
    /// </summary>
    public static X509Name IssuerAltName(IssuerKind kind, Prefecture prefecture)
    {
        ArgumentNullException.ThrowIfNull(prefecture);
        return Create(
            NameEntry.Country(Country),
            NameEntry.Organization(AltNameOrganization),
            NameEntry.OrganizationalUnit(KindAltNameUnit(kind)),
            NameEntry.OrganizationalUnit(prefecture.KanjiName));
    }

    /// <summary>
    /// The delegated OCSP responder's subject: the issuer's DN plus
    /// <c>CN=OCSP Responder G&lt;generation&gt; &lt;yyyyMMdd&gt;</c>. The generation and JST issue date
    /// make each renewal's DN unique and tell an operator at a glance which key signed a response.
    /// </summary>
    public static X509Name OcspResponder(X509Name issuer, int generation, DateOnly issuedOn)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(generation);
        return WithCommonName(issuer, $"OCSP Responder G{generation} {issuedOn:yyyyMMdd}");
    }

    /// <summary><c>C=JP, O=JPKI, OU=&lt;install name&gt;, CN=JPKI audit checkpoint key &lt;n&gt;</c>.</summary>
    public static X509Name AuditCheckpoint(string installName, int keyNumber)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(installName);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keyNumber);
        return Create(
            NameEntry.Country(Country),
            NameEntry.Organization(Organization),
            NameEntry.OrganizationalUnit(installName),
            NameEntry.CommonName($"JPKI audit checkpoint key {keyNumber}"));
    }

    /// <summary>
    /// Appends a CN RDN to an existing name, copying the existing RDNs' DER unchanged so their
    /// string types survive.
    /// </summary>
    public static X509Name WithCommonName(X509Name name, string commonName)
    {
        ArgumentNullException.ThrowIfNull(name);
        var existing = Asn1Sequence.GetInstance(name.ToAsn1Object());
        var rdns = new Asn1EncodableVector(existing.Count + 1);
        foreach (var rdn in existing)
        {
            rdns.Add(rdn);
        }

        rdns.Add(new DerSet(Encode(NameEntry.CommonName(commonName))));
        return X509Name.GetInstance(new DerSequence(rdns));
    }

    private static DerSequence Encode(NameEntry attribute)
    {
        ArgumentNullException.ThrowIfNull(attribute.Type);
        if (string.IsNullOrEmpty(attribute.Value))
        {
            throw new ArgumentException($"attribute {attribute.Type} has an empty value", nameof(attribute));
        }

        Asn1Encodable value;
        if (attribute.Type.Equals(X509Name.C))
        {
            // X.520 countryName is PrintableString SIZE(2) (ISO 3166 alpha-2).
            if (attribute.Value.Length != 2 || !attribute.Value.All(char.IsAsciiLetterUpper))
            {
                throw new ArgumentException($"country must be two upper-case letters, got '{attribute.Value}'", nameof(attribute));
            }

            value = new DerPrintableString(attribute.Value);
        }
        else if (attribute.Type.Equals(X509Name.O) || attribute.Type.Equals(X509Name.OU)
                 || attribute.Type.Equals(X509Name.CN) || attribute.Type.Equals(X509Name.L))
        {
            value = new DerUtf8String(attribute.Value);
        }
        else
        {
            throw new ArgumentException($"attribute type {attribute.Type} is not part of the JPKI profile", nameof(attribute));
        }

        return new DerSequence(attribute.Type, value);
    }
}
