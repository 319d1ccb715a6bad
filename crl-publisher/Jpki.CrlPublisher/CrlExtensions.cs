using System.Formats.Asn1;

namespace Jpki.CrlPublisher;

/// <summary>OIDs and encoders of the CRL extensions this publisher writes (RFC 5280 §5.2).</summary>
public static class CrlExtensions
{
    public const string AuthorityKeyIdentifier = "2.5.29.35";
    public const string CrlNumber = "2.5.29.20";
    public const string DeltaCrlIndicator = "2.5.29.27";
    public const string IssuingDistributionPoint = "2.5.29.28";
    public const string FreshestCrl = "2.5.29.46";
    public const string CrlDistributionPoints = "2.5.29.31";
    public const string ReasonCode = "2.5.29.21";
    public const string InvalidityDate = "2.5.29.24";

    /// <summary>
    /// An issuingDistributionPoint whose distributionPoint is, byte for byte, the first
    /// DistributionPoint's name in a certificate's CRLDistributionPoints extension value — the
    /// match verifiers (the JDK strictly) make between a certificate and its partition CRL.
    /// </summary>
    /// <exception cref="FormatException">The CRL DP is not a SEQUENCE OF DistributionPoint with a name.</exception>
    public static byte[] IdpFromCrlDistributionPoints(byte[] crlDistributionPointsDer, bool onlyContainsUserCerts, bool onlyContainsCaCerts)
    {
        ArgumentNullException.ThrowIfNull(crlDistributionPointsDer);
        try
        {
            var points = new AsnReader(crlDistributionPointsDer, AsnEncodingRules.DER).ReadSequence();
            var first = points.ReadSequence();
            if (!first.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
                throw new FormatException("the first distribution point has no distributionPoint name");
            }

            var name = first.ReadEncodedValue();
            var writer = new AsnWriter(AsnEncodingRules.DER);
            using (writer.PushSequence())
            {
                writer.WriteEncodedValue(name.Span);
                if (onlyContainsUserCerts)
                {
                    writer.WriteBoolean(true, new Asn1Tag(TagClass.ContextSpecific, 1));
                }

                if (onlyContainsCaCerts)
                {
                    writer.WriteBoolean(true, new Asn1Tag(TagClass.ContextSpecific, 2));
                }
            }

            return writer.Encode();
        }
        catch (AsnContentException e)
        {
            throw new FormatException("malformed CRLDistributionPoints", e);
        }
    }

    /// <summary>The distributionPoint name inside an issuingDistributionPoint value (for comparisons).</summary>
    public static byte[] IdpDistributionPointName(byte[] idp)
    {
        var sequence = new AsnReader(idp, AsnEncodingRules.DER).ReadSequence();
        return sequence.HasData && sequence.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0))
            ? sequence.ReadEncodedValue().ToArray()
            : [];
    }

    /// <summary>The SEQUENCE OF Extension of a CRL (what goes inside crlExtensions [0]).</summary>
    public static byte[] Encode(CrlContent content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            var aki = new AsnWriter(AsnEncodingRules.DER);
            using (aki.PushSequence())
            {
                aki.WriteOctetString(content.AuthorityKeyIdentifier, new Asn1Tag(TagClass.ContextSpecific, 0));
            }

            WriteExtension(writer, AuthorityKeyIdentifier, critical: false, aki.Encode());
            WriteExtension(writer, CrlNumber, critical: false, Integer(content.Number));
            if (content.DeltaBaseNumber is { } baseNumber)
            {
                WriteExtension(writer, DeltaCrlIndicator, critical: true, Integer(baseNumber));
            }

            if (content.IssuingDistributionPoint is { } idp)
            {
                WriteExtension(writer, IssuingDistributionPoint, critical: true, idp);
            }

            if (content.FreshestCrlUrl is { } url)
            {
                var freshest = new AsnWriter(AsnEncodingRules.DER);
                using (freshest.PushSequence())
                using (freshest.PushSequence())
                using (freshest.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
                using (freshest.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0)))
                {
                    freshest.WriteCharacterString(UniversalTagNumber.IA5String, url, new Asn1Tag(TagClass.ContextSpecific, 6));
                }

                WriteExtension(writer, FreshestCrl, critical: false, freshest.Encode());
            }
        }

        return writer.Encode();
    }

    private static byte[] Integer(long value)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        writer.WriteInteger(value);
        return writer.Encode();
    }

    private static void WriteExtension(AsnWriter writer, string oid, bool critical, byte[] value)
    {
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            if (critical)
            {
                writer.WriteBoolean(true);
            }

            writer.WriteOctetString(value);
        }
    }
}
