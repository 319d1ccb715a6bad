namespace Jpki.Core.Audit;

/// <summary>
/// The checkpoint key an auditor pins: the SHA-256 of its SubjectPublicKeyInfo DER (= the keyId of
/// every checkpoint it signs), as the key ceremony printed it and the auditor recorded it.
/// </summary>
public static class CheckpointKeyPin
{
    /// <summary>
    /// 64 hex digits, in either case, optionally in colon-separated pairs (as openssl prints
    /// fingerprints); returns them in lowercase without colons.
    /// </summary>
    /// <exception cref="CheckpointKeyPinException">Anything else.</exception>
    public static string Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var digits = trimmed.Contains(':', StringComparison.Ordinal) && trimmed.Split(':').All(p => p.Length == 2)
            ? trimmed.Replace(":", "", StringComparison.Ordinal)
            : trimmed;
        return digits.Length == 64 && digits.All(char.IsAsciiHexDigit)
            ? digits.ToLowerInvariant()
            : throw new CheckpointKeyPinException(text);
    }
}

/// <summary>A pinned key hash that is not a SHA-256 in hex.</summary>
public sealed class CheckpointKeyPinException(string given)
    : FormatException($"--key-sha256 wants the SHA-256 of the checkpoint key's SubjectPublicKeyInfo as 64 hex digits (from the key ceremony record), not '{(given.Length > 100 ? given[..100] + "…" : given)}'")
{
    public string Given { get; } = given;
}
