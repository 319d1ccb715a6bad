using System.Globalization;
using Jpki.Core.Accounts;
using Jpki.Core.Profiles;
using Jpki.Core.Registration;

namespace Jpki.Ca;

/// <summary>The body of <c>POST /api/v1/certificates</c>.</summary>
public sealed record IssueCertificateRequest
{
    public string? ResidentCode { get; init; }

    public string? Kind { get; init; }

    public string? Csr { get; init; }

    public string? WindowId { get; init; }

    public long? JukiSequence { get; init; }

    public string? CardExpiry { get; init; }

    public IssuanceOverride? Override { get; init; }

    /// <summary>
    /// The serial (hex) of the holder's certificate of the same kind this issuance renews: it must
    /// be good and unexpired; it is revoked as superseded in the transaction that stores the new
    /// one, and inside its last three months the new one counts the 6th birthday.
    /// </summary>
    public string? Renews { get; init; }

    /// <summary>
    /// The checked form of this body for <see cref="IssuanceService"/>, or what is wrong with it
    /// (the detail of a 400 invalid-request answer). Form only: the rules are the service's.
    /// </summary>
    public (IssuanceAsk? Ask, string? Invalid) ToAsk(Account account, string idempotencyKey, string requestSha256)
    {
        if (!Jpki.JukiNet.ResidentCode.TryParse(ResidentCode, out var code, out _))
        {
            return (null, "residentCode must be 11 digits with a valid check digit");
        }

        if (ParseKind(Kind) is not { } kind)
        {
            return (null, "kind must be \"signing\" or \"authentication\"");
        }

        if (string.IsNullOrWhiteSpace(Csr))
        {
            return (null, "csr (PEM or base64 DER PKCS#10) is required");
        }

        if (WindowId is not { Length: 9 } windowId || !windowId.All(char.IsAsciiLetterOrDigit))
        {
            return (null, "windowId must be 9 ASCII letters or digits");
        }

        if (JukiSequence is < 0)
        {
            return (null, "jukiSequence must not be negative");
        }

        var (cardExpiry, cardExpiryValid) = ParseCardExpiry(CardExpiry);
        if (!cardExpiryValid)
        {
            return (null, "cardExpiry must be a date YYYY-MM-DD");
        }

        if (Override is not null && (string.IsNullOrWhiteSpace(Override.Reason) || Override.Reason.Length > 500))
        {
            return (null, "override.reason must be 1-500 characters");
        }

        var renews = Renews?.Trim().ToLowerInvariant();
        if (renews is not null && (renews.Length is 0 or > 40 || !renews.All(char.IsAsciiHexDigitLower)))
        {
            return (null, "renews must be the hex serial (1-40 digits) of the certificate this one renews");
        }

        return (new IssuanceAsk(account, code, kind, Csr, windowId, JukiSequence, cardExpiry, Override?.Reason?.Trim(), renews, idempotencyKey, requestSha256), null);
    }

    private static IssuerKind? ParseKind(string? kind) => kind switch
    {
        "signing" => IssuerKind.Signing,
        "authentication" => IssuerKind.Authentication,
        _ => null,
    };

    private static (DateOnly? Date, bool Valid) ParseCardExpiry(string? text)
    {
        if (text is null)
        {
            return (null, true);
        }

        return DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var expiry)
            ? (expiry, true)
            : (null, false);
    }
}

/// <summary>An officer's override (today: a signing certificate for a resident under 15), with its reason.</summary>
public sealed record IssuanceOverride
{
    public string? Reason { get; init; }
}
