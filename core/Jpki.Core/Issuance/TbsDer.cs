using System.Formats.Asn1;
using System.Numerics;

namespace Jpki.Core.Issuance;

/// <summary>One AttributeTypeAndValue as found in DER: OID, universal string tag, text.</summary>
public sealed record DerNameValue(string Oid, UniversalTagNumber StringTag, string Value);

/// <summary>One extension as found in DER, in certificate order.</summary>
public sealed record TbsExtension(string Oid, bool Critical, byte[] Value);

/// <summary>
/// A TBSCertificate (or the TBS inside a certificate) taken apart with System.Formats.Asn1, a
/// parser independent of the BouncyCastle code that built it, so that the lint does not check
/// BouncyCastle's output with BouncyCastle. Only the outer structure is parsed here; the rules
/// parse each field they judge, so that one malformed field fails one rule, not all.
/// </summary>
public sealed class TbsDer
{
    private static readonly Asn1Tag Explicit0 = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Explicit3 = new(TagClass.ContextSpecific, 3, isConstructed: true);

    /// <exception cref="AsnContentException">Not a DER TBSCertificate.</exception>
    public TbsDer(ReadOnlyMemory<byte> der)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER);
        var tbs = outer.ReadSequence();
        outer.ThrowIfNotEmpty();

        if (tbs.PeekTag().HasSameClassAndValue(Explicit0))
        {
            var versionWrapper = tbs.ReadSequence(Explicit0);
            VersionValue = versionWrapper.ReadInteger();
            versionWrapper.ThrowIfNotEmpty();
        }

        SerialContent = tbs.ReadIntegerBytes().ToArray();
        var algorithm = tbs.ReadSequence();
        SignatureOid = algorithm.ReadObjectIdentifier();
        SignatureParameters = algorithm.HasData ? algorithm.ReadEncodedValue().ToArray() : null;
        algorithm.ThrowIfNotEmpty();
        IssuerDer = tbs.ReadEncodedValue().ToArray();
        var validity = tbs.ReadSequence();
        (NotBeforeTag, NotBefore) = ReadTime(validity);
        (NotAfterTag, NotAfter) = ReadTime(validity);
        validity.ThrowIfNotEmpty();
        SubjectDer = tbs.ReadEncodedValue().ToArray();
        SubjectPublicKeyInfoDer = tbs.ReadEncodedValue().ToArray();

        var extensions = new List<TbsExtension>();
        while (tbs.HasData)
        {
            var tag = tbs.PeekTag();
            if (!tag.HasSameClassAndValue(Explicit3))
            {
                // issuerUniqueID / subjectUniqueID: not part of the profile; not part of the profile; the version-v3 rule reports them.
                HasUniqueIds = true;
                tbs.ReadEncodedValue();
                continue;
            }

            var wrapper = tbs.ReadSequence(Explicit3);
            var sequence = wrapper.ReadSequence();
            wrapper.ThrowIfNotEmpty();
            while (sequence.HasData)
            {
                var extension = sequence.ReadSequence();
                var oid = extension.ReadObjectIdentifier();
                var critical = extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean();
                extensions.Add(new TbsExtension(oid, critical, extension.ReadOctetString()));
                extension.ThrowIfNotEmpty();
            }
        }

        Extensions = extensions;
    }

    /// <summary>The raw version INTEGER (2 for v3), or null when the field is absent (v1).</summary>
    public BigInteger? VersionValue { get; }

    public bool HasUniqueIds { get; }

    public byte[] SerialContent { get; }

    public string SignatureOid { get; }

    /// <summary>Raw DER of the AlgorithmIdentifier parameters, or null when absent.</summary>
    public byte[]? SignatureParameters { get; }

    public byte[] IssuerDer { get; }

    public Asn1Tag NotBeforeTag { get; }

    public DateTimeOffset NotBefore { get; }

    public Asn1Tag NotAfterTag { get; }

    public DateTimeOffset NotAfter { get; }

    public byte[] SubjectDer { get; }

    public byte[] SubjectPublicKeyInfoDer { get; }

    public IReadOnlyList<TbsExtension> Extensions { get; }

    public TbsExtension? Extension(string oid) => Extensions.FirstOrDefault(e => e.Oid == oid);

    /// <summary>Parses a Name, insisting on one attribute per RDN.</summary>
    /// <exception cref="AsnContentException">Malformed, or a multi-valued RDN.</exception>
    public static IReadOnlyList<DerNameValue> ParseName(ReadOnlyMemory<byte> nameDer)
    {
        var reader = new AsnReader(nameDer, AsnEncodingRules.DER);
        var entries = ParseName(reader.ReadSequence());
        reader.ThrowIfNotEmpty();
        return entries;
    }

    public static IReadOnlyList<DerNameValue> ParseName(AsnReader rdnSequence)
    {
        var entries = new List<DerNameValue>();
        while (rdnSequence.HasData)
        {
            var rdn = rdnSequence.ReadSetOf();
            var attribute = rdn.ReadSequence();
            if (rdn.HasData)
            {
                throw new AsnContentException("multi-valued RDN");
            }

            var oid = attribute.ReadObjectIdentifier();
            var tag = attribute.PeekTag();
            if (tag.TagClass != TagClass.Universal)
            {
                throw new AsnContentException($"attribute {oid} has a non-universal value tag");
            }

            var number = (UniversalTagNumber)tag.TagValue;
            entries.Add(new DerNameValue(oid, number, attribute.ReadCharacterString(number)));
            attribute.ThrowIfNotEmpty();
        }

        return entries;
    }

    /// <summary>Reads the literal time text as well, so that rules judge what is encoded, not a normalised value.</summary>
    private static (Asn1Tag Tag, DateTimeOffset Value) ReadTime(AsnReader reader)
    {
        var tag = reader.PeekTag();
        if (tag.HasSameClassAndValue(Asn1Tag.UtcTime))
        {
            return (tag, reader.ReadUtcTime());
        }

        if (tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime))
        {
            return (tag, reader.ReadGeneralizedTime());
        }

        throw new AsnContentException($"a validity time must be UTCTime or GeneralizedTime, got {tag}");
    }

    /// <summary>Hex of DER bytes, for lint messages.</summary>
    internal static string Hex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);
}
