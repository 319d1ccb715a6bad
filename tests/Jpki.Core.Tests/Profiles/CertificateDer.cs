using System.Formats.Asn1;
using System.Text;

namespace Jpki.Core.Tests.Profiles;

/// <summary>One AttributeTypeAndValue as found in the DER: OID, universal string tag, text.</summary>
internal sealed record DerNameEntry(string Oid, UniversalTagNumber StringTag, string Value);

/// <summary>One extension as found in the DER, in certificate order.</summary>
internal sealed record DerExtension(string Oid, bool Critical, byte[] Value);

/// <summary>A validity time as found in the DER: its tag and its literal text (e.g. <c>361231145959Z</c>).</summary>
internal sealed record DerTime(Asn1Tag Tag, string Text, DateTimeOffset Value);

/// <summary>
/// A certificate taken apart with System.Formats.Asn1 — a parser independent of BouncyCastle, so
/// that the tests do not check BouncyCastle's output with BouncyCastle.
/// </summary>
internal sealed class CertificateDer
{
    public const string Sha256WithRsa = "1.2.840.113549.1.1.11";
    public const string EcdsaWithSha256 = "1.2.840.10045.4.3.2";
    public const string CountryName = "2.5.4.6";
    public const string OrganizationName = "2.5.4.10";
    public const string OrganizationalUnitName = "2.5.4.11";
    public const string CommonName = "2.5.4.3";
    public const string KeyUsage = "2.5.29.15";
    public const string BasicConstraints = "2.5.29.19";
    public const string SubjectKeyIdentifier = "2.5.29.14";
    public const string AuthorityKeyIdentifier = "2.5.29.35";
    public const string SubjectAltName = "2.5.29.17";
    public const string CrlDistributionPoints = "2.5.29.31";
    public const string ExtendedKeyUsage = "2.5.29.37";
    public const string OcspNoCheck = "1.3.6.1.5.5.7.48.1.5";
    public const string OcspSigning = "1.3.6.1.5.5.7.3.9";

    private static readonly Asn1Tag Explicit0 = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Explicit3 = new(TagClass.ContextSpecific, 3, isConstructed: true);

    public CertificateDer(byte[] der)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER);
        var certificate = outer.ReadSequence();
        outer.ThrowIfNotEmpty();

        var tbs = certificate.ReadSequence();
        (OuterSignatureOid, OuterSignatureParameters) = ReadAlgorithm(certificate);
        certificate.ReadBitString(out _);
        certificate.ThrowIfNotEmpty();

        var versionWrapper = tbs.ReadSequence(Explicit0);
        Version = (int)versionWrapper.ReadInteger() + 1;
        versionWrapper.ThrowIfNotEmpty();
        SerialContent = tbs.ReadIntegerBytes().ToArray();
        (SignatureOid, SignatureParameters) = ReadAlgorithm(tbs);
        IssuerDer = tbs.ReadEncodedValue().ToArray();
        var validity = tbs.ReadSequence();
        NotBefore = ReadTime(validity);
        NotAfter = ReadTime(validity);
        validity.ThrowIfNotEmpty();
        SubjectDer = tbs.ReadEncodedValue().ToArray();
        SubjectPublicKeyInfoDer = tbs.ReadEncodedValue().ToArray();
        var spki = new AsnReader(SubjectPublicKeyInfoDer, AsnEncodingRules.DER).ReadSequence();
        spki.ReadSequence();
        SubjectPublicKeyBits = spki.ReadBitString(out _);

        var extensions = new List<DerExtension>();
        if (tbs.HasData)
        {
            var wrapper = tbs.ReadSequence(Explicit3);
            var sequence = wrapper.ReadSequence();
            while (sequence.HasData)
            {
                var extension = sequence.ReadSequence();
                var oid = extension.ReadObjectIdentifier();
                var critical = extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean();
                extensions.Add(new DerExtension(oid, critical, extension.ReadOctetString()));
                extension.ThrowIfNotEmpty();
            }
        }

        tbs.ThrowIfNotEmpty();
        Extensions = extensions;
    }

    public int Version { get; }

    public byte[] SerialContent { get; }

    public string SignatureOid { get; }

    /// <summary>Raw DER of the AlgorithmIdentifier parameters, or null when absent.</summary>
    public byte[]? SignatureParameters { get; }

    public string OuterSignatureOid { get; }

    public byte[]? OuterSignatureParameters { get; }

    public byte[] IssuerDer { get; }

    public byte[] SubjectDer { get; }

    public IReadOnlyList<DerNameEntry> Issuer => ParseName(IssuerDer);

    public IReadOnlyList<DerNameEntry> Subject => ParseName(SubjectDer);

    public DerTime NotBefore { get; }

    public DerTime NotAfter { get; }

    public byte[] SubjectPublicKeyInfoDer { get; }

    public byte[] SubjectPublicKeyBits { get; }

    public IReadOnlyList<DerExtension> Extensions { get; }

    /// <summary>RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING contents.</summary>
    public static byte[] Rfc5280KeyIdentifier(byte[] subjectPublicKeyBits)
    {
        // SHA-1 here names a key, it protects nothing: RFC 5280 fixes the algorithm.
#pragma warning disable CA5350
        return System.Security.Cryptography.SHA1.HashData(subjectPublicKeyBits);
#pragma warning restore CA5350
    }

    public DerExtension Extension(string oid) =>
        Extensions.SingleOrDefault(e => e.Oid == oid) ?? throw new InvalidOperationException($"no extension {oid}");

    /// <summary>Parses a Name, insisting on one attribute per RDN.</summary>
    public static IReadOnlyList<DerNameEntry> ParseName(byte[] nameDer)
    {
        var reader = new AsnReader(nameDer, AsnEncodingRules.DER);
        var entries = ParseName(reader.ReadSequence());
        reader.ThrowIfNotEmpty();
        return entries;
    }

    public static IReadOnlyList<DerNameEntry> ParseName(AsnReader rdnSequence)
    {
        var entries = new List<DerNameEntry>();
        while (rdnSequence.HasData)
        {
            var rdn = rdnSequence.ReadSetOf();
            var attribute = rdn.ReadSequence();
            if (rdn.HasData)
            {
                throw new InvalidOperationException("multi-valued RDN");
            }

            var oid = attribute.ReadObjectIdentifier();
            var tag = attribute.PeekTag();
            var number = (UniversalTagNumber)tag.TagValue;
            entries.Add(new DerNameEntry(oid, number, attribute.ReadCharacterString(number)));
            attribute.ThrowIfNotEmpty();
        }

        return entries;
    }

    private static (string Oid, byte[]? Parameters) ReadAlgorithm(AsnReader reader)
    {
        var algorithm = reader.ReadSequence();
        var oid = algorithm.ReadObjectIdentifier();
        var parameters = algorithm.HasData ? algorithm.ReadEncodedValue().ToArray() : null;
        algorithm.ThrowIfNotEmpty();
        return (oid, parameters);
    }

    private static DerTime ReadTime(AsnReader reader)
    {
        var tag = reader.PeekTag();
        var text = Encoding.ASCII.GetString(reader.PeekContentBytes().Span);
        var value = tag.HasSameClassAndValue(Asn1Tag.UtcTime) ? reader.ReadUtcTime() : reader.ReadGeneralizedTime();
        return new DerTime(tag, text, value);
    }
}
