using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Generators;

namespace Jpki.Core.Accounts;

/// <summary>
/// Password hashes with scrypt (memory-hard: N = 2^15, r = 8 takes 32 MiB per guess), stored as
/// <c>scrypt$log2N$r$p$salt$hash</c> (base64) so the cost can be raised for new hashes later.
/// </summary>
public static class PasswordHash
{
    private const int Log2N = 15;
    private const int BlockSize = 8;
    private const int Parallelism = 1;
    private const int HashBytes = 32;

    public static string Create(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Derive(password, salt, Log2N, BlockSize, Parallelism);
        return string.Create(CultureInfo.InvariantCulture, $"scrypt${Log2N}${BlockSize}${Parallelism}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}");
    }

    /// <summary>Whether <paramref name="password"/> matches <paramref name="encoded"/>; false for a malformed hash.</summary>
    public static bool Verify(string password, string encoded)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(encoded);
        var parts = encoded.Split('$');
        if (parts.Length != 6 || parts[0] != "scrypt"
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var log2N) || log2N is < 10 or > 20
            || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var r) || r is < 1 or > 32
            || !int.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 16)
        {
            return false;
        }

        byte[] salt, expected;
        try
        {
            salt = Convert.FromBase64String(parts[4]);
            expected = Convert.FromBase64String(parts[5]);
        }
        catch (FormatException)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(Derive(password, salt, log2N, r, p), expected);
    }

    /// <summary>A hash of a random password: unknown account names cost as much as known ones.</summary>
    public static string Decoy { get; } = Create(Convert.ToHexString(RandomNumberGenerator.GetBytes(16)));

    private static byte[] Derive(string password, byte[] salt, int log2N, int r, int p) =>
        SCrypt.Generate(Encoding.UTF8.GetBytes(password), salt, 1 << log2N, r, p, HashBytes);
}
