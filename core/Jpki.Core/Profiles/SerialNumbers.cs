using System.Security.Cryptography;
using Org.BouncyCastle.Math;

namespace Jpki.Core.Profiles;

/// <summary>
/// Certificate serial numbers: positive, unpredictable (CSPRNG, 127 bits) and always exactly 16
/// DER content octets, well inside RFC 5280's 20-octet limit.
/// </summary>
public static class SerialNumbers
{
    /// <summary>DER content length of every serial this class makes.</summary>
    public const int Length = 16;

    public static BigInteger New()
    {
        Span<byte> bytes = stackalloc byte[Length];
        do
        {
            RandomNumberGenerator.Fill(bytes);

            // Top bit clear keeps the INTEGER positive without a 0x00 pad octet; a non-zero first
            // octet keeps DER from dropping it. Together: always exactly 16 octets.
            bytes[0] &= 0x7F;
        }
        while (bytes[0] == 0);

        return new BigInteger(1, bytes);
    }

    /// <summary>Lowercase hex of the DER content octets (32 characters for serials from <see cref="New"/>).</summary>
    public static string ToHex(BigInteger serial)
    {
        ArgumentNullException.ThrowIfNull(serial);
        if (serial.SignValue <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(serial), "certificate serial numbers are positive");
        }

        return Convert.ToHexStringLower(serial.ToByteArray());
    }

    /// <summary>The inverse of <see cref="ToHex"/>.</summary>
    /// <exception cref="FormatException">Not hex, or not a positive serial of at most 20 octets.</exception>
    public static BigInteger FromHex(string hex)
    {
        ArgumentNullException.ThrowIfNull(hex);
        var bytes = Convert.FromHexString(hex);
        if (bytes.Length is 0 or > 20 || (bytes[0] & 0x80) != 0)
        {
            throw new FormatException($"'{hex}' is not a positive serial number of at most 20 octets");
        }

        return new BigInteger(1, bytes);
    }
}
