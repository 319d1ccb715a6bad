using System.Text.Json;

namespace Jpki.Core.Revocation;

/// <summary>
/// CRLReason (RFC 5280 §5.3.1) as J-LIS CPS §4.9.9 uses it. The numeric values are the DER
/// ENUMERATED values; <see cref="CaCompromise"/>, removeFromCRL and the rest are never used for
/// end-entity certificates (see <see cref="RevocationRules"/>).
/// </summary>
public enum RevocationReason
{
    Unspecified = 0,
    KeyCompromise = 1,
    CaCompromise = 2,
    AffiliationChanged = 3,
    Superseded = 4,
    CessationOfOperation = 5,
    CertificateHold = 6,
}

/// <summary>The wire names of <see cref="RevocationReason"/> (camelCase, as RFC 5280 spells them).</summary>
public static class RevocationReasons
{
    public static string WireName(RevocationReason reason) =>
        Enum.IsDefined(reason)
            ? JsonNamingPolicy.CamelCase.ConvertName(reason.ToString())
            : throw new ArgumentOutOfRangeException(nameof(reason), reason, "not a CRLReason this CA uses");

    /// <summary>Parses <c>keyCompromise</c> etc.; null when <paramref name="text"/> names no reason.</summary>
    public static RevocationReason? Parse(string? text)
    {
        foreach (var reason in Enum.GetValues<RevocationReason>())
        {
            if (string.Equals(WireName(reason), text, StringComparison.Ordinal))
            {
                return reason;
            }
        }

        return null;
    }

    /// <summary>The reason stored as an integer (CRLReason value); null stays null.</summary>
    public static RevocationReason? FromStored(long? value) =>
        value is null ? null
        : Enum.IsDefined((RevocationReason)value.Value) ? (RevocationReason)value.Value
        : throw new FormatException($"stored revocation reason {value} is not a CRLReason this CA uses");

    /// <summary>
    /// The wire name of a stored reason (null stays null): every API names reasons as RFC 5280
    /// does, never by their number.
    /// </summary>
    public static string? WireNameOfStored(long? value) => FromStored(value) is { } reason ? WireName(reason) : null;
}
