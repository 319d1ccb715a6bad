using System.Formats.Asn1;
using System.Globalization;
using System.Security.Cryptography;

namespace Jpki.CrlPublisher;

/// <summary>The fields of a CRL before its entries.</summary>
public sealed record CrlPreamble(byte[] IssuerNameDer, DateTimeOffset ThisUpdate, DateTimeOffset? NextUpdate);

/// <summary>The fields after the entries: extensions, algorithm, signature, and whether the signature verified.</summary>
/// <summary>One entry of a CRL file: its serial (lower-case hex) and revocationDate.</summary>
public readonly record struct CrlFileEntry(string Serial, DateTimeOffset RevocationDate);

public sealed record CrlTrailer(long? Number, long? DeltaBaseNumber, byte[]? IssuingDistributionPoint, bool IdpCritical, string? FreshestCrlUrl, bool SignatureValid);

/// <summary>
/// Reads a DER CRL from a stream front to back without holding it: the preamble, then the entry
/// serials one at a time (lowercase hex of the INTEGER content, as the store names serials), then
/// the extensions and signature. The TBSCertList is hashed as it passes, so the signature check
/// needs no second read. Used by the pre-publication check and by the HTTP server (preamble only).
/// </summary>
public sealed class CrlFileReader(Stream input) : IDisposable
{
    private const int MaxSmallElement = 64 * 1024;

    private readonly IncrementalHash tbsHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[] one = new byte[1];
    private bool hashing;
    private long tbsRemaining;
    private int state;

    public long EntryCount { get; private set; }

    public CrlPreamble ReadPreamble()
    {
        Expect(state == 0);
        ReadHeader(Der.Sequence);
        hashing = true;
        tbsRemaining = ReadHeader(Der.Sequence);
        var version = ReadElement(out var versionTag);
        if (versionTag != Der.IntegerTag || version.Length != 1 || version[0] != 1)
        {
            throw new FormatException("not a v2 CRL");
        }

        ReadElement(out _);
        var issuer = ReadElementWithHeader(Der.Sequence);
        var thisUpdate = ParseTime(ReadElement(out var thisTag), thisTag);
        DateTimeOffset? nextUpdate = null;
        if (tbsRemaining > 0 && PeekTag() is Der.UtcTime or Der.GeneralizedTime)
        {
            var next = ReadElement(out var nextTag);
            nextUpdate = ParseTime(next, nextTag);
        }

        state = 1;
        return new CrlPreamble(issuer, thisUpdate, nextUpdate);
    }

    /// <summary>The serials of the entries, in file order; consumes them.</summary>
    public IEnumerable<string> ReadEntrySerials() => ReadEntries().Select(e => e.Serial);

    /// <summary>The entries' serials and revocationDates, in file order; consumes them.</summary>
    public IEnumerable<CrlFileEntry> ReadEntries()
    {
        Expect(state == 1);
        state = 2;
        if (tbsRemaining > 0 && PeekTag() == Der.Sequence)
        {
            var listRemaining = ReadHeader(Der.Sequence);
            var entry = new byte[512];
            while (listRemaining > 0)
            {
                var length = ReadHeader(Der.Sequence);
                if (length > entry.Length)
                {
                    throw new FormatException("a CRL entry over 512 bytes");
                }

                ReadExactly(entry.AsSpan(0, (int)length));
                listRemaining -= Der.TotalLength(length);
                // The serial must lie inside this entry: a short entry would otherwise name bytes left over from the one before.
                if (length < 2 || entry[0] != Der.IntegerTag || entry[1] >= 0x80 || entry[1] == 0 || 2 + entry[1] > length)
                {
                    throw new FormatException("a CRL entry without a serial INTEGER");
                }

                // revocationDate follows the serial: UTCTime or GeneralizedTime, short form.
                var time = 2 + entry[1];
                if (time + 2 > length || entry[time + 1] >= 0x80 || time + 2 + entry[time + 1] > length)
                {
                    throw new FormatException("a CRL entry without a revocationDate");
                }

                var revoked = ParseTime(entry.AsSpan(time + 2, entry[time + 1]).ToArray(), entry[time]);
                EntryCount++;
                yield return new CrlFileEntry(Convert.ToHexStringLower(entry, 2, entry[1]), revoked);
            }
        }
    }

    public CrlTrailer ReadTrailer(byte[] issuerSubjectPublicKeyInfo)
    {
        if (state == 1)
        {
            foreach (var unused in ReadEntries())
            {
            }
        }

        Expect(state == 2);
        state = 3;
        var extensions = new CrlTrailerExtensions(null, null, null, false, null);
        if (tbsRemaining > 0)
        {
            var wrapper = ReadElement(out var wrapperTag);
            if (wrapperTag != Der.ContextConstructed0)
            {
                throw new FormatException("unexpected element after the entries");
            }

            extensions = ReadExtensions(wrapper);
        }

        if (tbsRemaining != 0)
        {
            throw new FormatException("the TBSCertList has trailing bytes");
        }

        hashing = false;
        var digest = tbsHash.GetHashAndReset();
        ReadElement(out _);
        var bits = ReadElement(out var bitsTag);
        if (bitsTag != Der.BitStringTag || bits.Length < 2 || bits[0] != 0)
        {
            throw new FormatException("malformed signature BIT STRING");
        }

        if (input.Read(one, 0, 1) != 0)
        {
            throw new FormatException("bytes after the CertificateList");
        }

        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(issuerSubjectPublicKeyInfo, out _);
        var valid = rsa.VerifyHash(digest, bits.AsSpan(1), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return new CrlTrailer(extensions.Number, extensions.DeltaBaseNumber, extensions.IssuingDistributionPoint, extensions.IdpCritical, extensions.FreshestCrlUrl, valid);
    }

    private readonly record struct CrlTrailerExtensions(long? Number, long? DeltaBaseNumber, byte[]? IssuingDistributionPoint, bool IdpCritical, string? FreshestCrlUrl);

    /// <summary>
    /// The crlExtensions this publisher writes, read with AsnReader: its errors, and a CRL number past
    /// 64 bits, are this reader's FormatException like every other malformation (found by
    /// ./jpki fuzz crl: AsnContentException and OverflowException escaped the reader).
    /// </summary>
    private static CrlTrailerExtensions ReadExtensions(byte[] wrapper)
    {
        var read = new CrlTrailerExtensions(null, null, null, false, null);
        try
        {
            var extensions = new AsnReader(wrapper, AsnEncodingRules.DER).ReadSequence();
            while (extensions.HasData)
            {
                var extension = extensions.ReadSequence();
                var oid = extension.ReadObjectIdentifier();
                var critical = extension.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && extension.ReadBoolean();
                var value = extension.ReadOctetString();
                read = oid switch
                {
                    CrlExtensions.CrlNumber => read with { Number = (long)new AsnReader(value, AsnEncodingRules.DER).ReadInteger() },
                    CrlExtensions.DeltaCrlIndicator => read with { DeltaBaseNumber = (long)new AsnReader(value, AsnEncodingRules.DER).ReadInteger() },
                    CrlExtensions.IssuingDistributionPoint => read with { IssuingDistributionPoint = value, IdpCritical = critical },
                    CrlExtensions.FreshestCrl => read with { FreshestCrlUrl = FreshestUrl(value) },
                    _ => read,
                };
            }

            return read;
        }
        catch (AsnContentException e)
        {
            throw new FormatException("malformed CRL extensions: " + e.Message, e);
        }
        catch (OverflowException e)
        {
            throw new FormatException("a CRL number or delta base past 64 bits", e);
        }
    }

    private static string FreshestUrl(byte[] value)
    {
        var dp = new AsnReader(value, AsnEncodingRules.DER).ReadSequence().ReadSequence()
            .ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
        return dp.ReadCharacterString(UniversalTagNumber.IA5String, new Asn1Tag(TagClass.ContextSpecific, 6));
    }

    public void Dispose() => tbsHash.Dispose();

    private static void Expect(bool ok)
    {
        if (!ok)
        {
            throw new InvalidOperationException("read the preamble, the entries and the trailer in that order, once");
        }
    }

    private static DateTimeOffset ParseTime(byte[] text, byte tag)
    {
        var s = System.Text.Encoding.ASCII.GetString(text);
        return tag switch
        {
            Der.UtcTime => DateTimeOffset.ParseExact(s, "yyMMddHHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
            Der.GeneralizedTime => DateTimeOffset.ParseExact(s, "yyyyMMddHHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal),
            _ => throw new FormatException("expected a time"),
        };
    }

    private int peeked = -1;

    private byte PeekTag()
    {
        if (peeked < 0)
        {
            if (input.Read(one, 0, 1) != 1)
            {
                throw new FormatException("truncated CRL");
            }

            peeked = one[0];
        }

        return (byte)peeked;
    }

    private byte ReadByte()
    {
        byte b;
        if (peeked >= 0)
        {
            b = (byte)peeked;
            peeked = -1;
        }
        else
        {
            if (input.Read(one, 0, 1) != 1)
            {
                throw new FormatException("truncated CRL");
            }

            b = one[0];
        }

        Consumed([b]);
        return b;
    }

    private void ReadExactly(Span<byte> destination)
    {
        if (destination.IsEmpty)
        {
            return;
        }

        var at = 0;
        if (peeked >= 0)
        {
            destination[0] = (byte)peeked;
            peeked = -1;
            at = 1;
        }

        try
        {
            input.ReadExactly(destination[at..]);
        }
        catch (EndOfStreamException e)
        {
            throw new FormatException("truncated CRL", e);
        }

        Consumed(destination);
    }

    private void Consumed(ReadOnlySpan<byte> bytes)
    {
        if (hashing)
        {
            tbsHash.AppendData(bytes);
            tbsRemaining -= bytes.Length;
        }
    }

    /// <summary>Reads tag and length (the tag must be <paramref name="tag"/>); returns the content length.</summary>
    private long ReadHeader(byte tag)
    {
        var actual = ReadByte();
        if (actual != tag)
        {
            throw new FormatException($"expected tag 0x{tag:x2}, found 0x{actual:x2}");
        }

        return ReadLength();
    }

    private long ReadLength()
    {
        var first = ReadByte();
        if (first < 0x80)
        {
            return first;
        }

        var count = first & 0x7F;
        if (count is 0 or > 5)
        {
            throw new FormatException("unsupported DER length");
        }

        long length = 0;
        for (var i = 0; i < count; i++)
        {
            length = (length << 8) | ReadByte();
        }

        return length;
    }

    private byte[] ReadElement(out byte tag)
    {
        tag = ReadByte();
        var length = ReadLength();
        if (length > MaxSmallElement)
        {
            throw new FormatException("an element over 64 KiB where a small one belongs");
        }

        var content = new byte[length];
        ReadExactly(content);
        return content;
    }

    private byte[] ReadElementWithHeader(byte tag)
    {
        var content = ReadElementChecked(tag);
        var header = new byte[Der.HeaderLength(content.Length)];
        Der.WriteHeader(header, tag, content.Length);
        return [.. header, .. content];
    }

    private byte[] ReadElementChecked(byte tag)
    {
        var content = ReadElement(out var actual);
        return actual == tag ? content : throw new FormatException($"expected tag 0x{tag:x2}, found 0x{actual:x2}");
    }
}
