using System.Security.Cryptography;
using System.Text;

namespace Jpki.Core.Accounts;

/// <summary>
/// A fresh API token and password for an account's holder, shown once and stored only as hashes
/// (<see cref="Stored"/>): the token's SHA-256 with its expiry, the password's scrypt hash.
/// </summary>
public sealed record NewCredentials(string Token, string Password, DateTimeOffset TokenExpiresAt, AccountCredentials Stored)
{
    public static NewCredentials Make(DateTimeOffset now, int tokenLifetimeDays)
    {
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var password = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var expiresAt = now.AddDays(tokenLifetimeDays);
        return new NewCredentials(token, password, expiresAt, new AccountCredentials(AccountStore.TokenHash(token), Jpki.Core.Store.Instant.ToMicros(expiresAt), PasswordHash.Create(password)));
    }
}

/// <summary>
/// The one-time code an account's holder activates it with. Under dual control it is made of two
/// parts: the requesting officer gets the first with the request, the approving officer the
/// second with the approval, and the holder needs both (<c>part1-part2</c>), so that neither
/// officer alone can take the new account's credentials. The store keeps only
/// SHA-256(SHA-256(part1) ":" part2); the request keeps SHA-256(part1).
/// </summary>
public static class ActivationCode
{
    public static string NewPart() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    public static string PartHash(string part) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(part)));

    public static string Combined(string part1Hash, string part2) => PartHash(part1Hash + ":" + part2);

    /// <summary>The stored hash of a presented <c>part1-part2</c> code; null when it is not of that form.</summary>
    public static string? HashOf(string? code)
    {
        var parts = code?.Trim().Split('-');
        return parts is [{ Length: 32 } part1, { Length: 32 } part2] && parts.All(p => p.All(char.IsAsciiHexDigitLower))
            ? Combined(PartHash(part1), part2)
            : null;
    }
}
