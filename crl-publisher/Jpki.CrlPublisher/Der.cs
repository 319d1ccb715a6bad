using System.Buffers.Binary;

namespace Jpki.CrlPublisher;

/// <summary>
/// The few DER primitives the streaming CRL writer needs, on spans: the writer must know every
/// length before it writes a header (definite lengths), so it computes sizes with
/// <see cref="HeaderLength"/> and writes with <see cref="WriteHeader"/>.
/// </summary>
public static class Der
{
    public const byte IntegerTag = 0x02;
    public const byte BitStringTag = 0x03;
    public const byte OctetString = 0x04;
    public const byte Enumerated = 0x0A;
    public const byte UtcTime = 0x17;
    public const byte GeneralizedTime = 0x18;
    public const byte Sequence = 0x30;
    public const byte ContextConstructed0 = 0xA0;

    /// <summary>Tag + length octets for <paramref name="contentLength"/> bytes of content.</summary>
    public static int HeaderLength(long contentLength) => 1 + LengthOctets(contentLength);

    public static long TotalLength(long contentLength) => HeaderLength(contentLength) + contentLength;

    public static int LengthOctets(long contentLength) => contentLength switch
    {
        < 0x80 => 1,
        <= 0xFF => 2,
        <= 0xFFFF => 3,
        <= 0xFFFFFF => 4,
        <= 0xFFFFFFFF => 5,
        _ => throw new ArgumentOutOfRangeException(nameof(contentLength), "a CRL over 4 GiB"),
    };

    /// <summary>Writes tag and definite length; returns the bytes written.</summary>
    public static int WriteHeader(Span<byte> destination, byte tag, long contentLength)
    {
        destination[0] = tag;
        var octets = LengthOctets(contentLength);
        if (octets == 1)
        {
            destination[1] = (byte)contentLength;
            return 2;
        }

        var count = octets - 1;
        destination[1] = (byte)(0x80 | count);
        Span<byte> big = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(big, (ulong)contentLength);
        big[(8 - count)..].CopyTo(destination[2..]);
        return 1 + octets;
    }

    /// <summary>
    /// A time as RFC 5280 §5.1.2.4 wants it: UTCTime through 2049, GeneralizedTime from 2050,
    /// whole seconds, Z. Returns the bytes written (TLV).
    /// </summary>
    public static int WriteTime(Span<byte> destination, DateTimeOffset time)
    {
        var utc = time.UtcDateTime;
        if (utc.Year < 2050)
        {
            destination[0] = UtcTime;
            destination[1] = 13;
            Digits(destination[2..], utc.Year % 100, 2);
            Digits(destination[4..], utc.Month, 2);
            Digits(destination[6..], utc.Day, 2);
            Digits(destination[8..], utc.Hour, 2);
            Digits(destination[10..], utc.Minute, 2);
            Digits(destination[12..], utc.Second, 2);
            destination[14] = (byte)'Z';
            return 15;
        }

        return WriteGeneralizedTime(destination, time);
    }

    /// <summary>GeneralizedTime YYYYMMDDHHMMSSZ (invalidityDate is always GeneralizedTime).</summary>
    public static int WriteGeneralizedTime(Span<byte> destination, DateTimeOffset time)
    {
        var utc = time.UtcDateTime;
        destination[0] = GeneralizedTime;
        destination[1] = 15;
        Digits(destination[2..], utc.Year, 4);
        Digits(destination[6..], utc.Month, 2);
        Digits(destination[8..], utc.Day, 2);
        Digits(destination[10..], utc.Hour, 2);
        Digits(destination[12..], utc.Minute, 2);
        Digits(destination[14..], utc.Second, 2);
        destination[16] = (byte)'Z';
        return 17;
    }

    public static int TimeLength(DateTimeOffset time) => time.UtcDateTime.Year < 2050 ? 15 : 17;

    /// <summary>Whole seconds: DER times carry no fraction here, and a round trip must compare equal.</summary>
    public static DateTimeOffset TruncateToSeconds(DateTimeOffset time) =>
        new(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);

    /// <summary>The first whole second at or after <paramref name="time"/>: a thisUpdate never before an instant it must follow.</summary>
    public static DateTimeOffset RoundUpToSeconds(DateTimeOffset time)
    {
        var truncated = TruncateToSeconds(time);
        return truncated == time ? truncated : truncated.AddSeconds(1);
    }

    private static void Digits(Span<byte> destination, int value, int count)
    {
        for (var i = count - 1; i >= 0; i--)
        {
            destination[i] = (byte)('0' + (value % 10));
            value /= 10;
        }
    }
}
