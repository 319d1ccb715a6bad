using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Jpki.Kiosk;

/// <summary>
/// What the kiosk keeps per browser, server side (ASP.NET Core session, keyed by an HttpOnly,
/// SameSite=Strict cookie): the operator's CA session token, the municipalities the CA binds the
/// operator to (the cards the operator may touch), and the enrolment in progress.
/// Never a PIN: PINs go from the form to the card within one request.
/// </summary>
public sealed record KioskSession(string Account, string Token, DateTimeOffset TokenExpiresAt, Enrolment? Enrolment, Receipt? Receipt, IReadOnlyList<string>? MunicipalityCodes = null)
{
    private const string Key = "kiosk";

    public static async Task<KioskSession?> LoadAsync(HttpContext context)
    {
        await context.Session.LoadAsync(context.RequestAborted);
        var json = context.Session.GetString(Key);
        return json is null ? null : JsonSerializer.Deserialize<KioskSession>(json);
    }

    public void Save(HttpContext context) => context.Session.SetString(Key, JsonSerializer.Serialize(this));

    public static void Clear(HttpContext context) => context.Session.Clear();

    public bool IsBoundTo(string? municipalityCode) => municipalityCode is not null && (MunicipalityCodes ?? []).Contains(municipalityCode, StringComparer.Ordinal);
}

/// <summary>The four facts as the lookup returned them, for the face-to-face check.</summary>
public sealed record ResidentFacts(string Name, string DateOfBirth, int Sex, string Address, string Municipality, string? MunicipalityCode = null);

/// <summary>
/// One enrolment in progress. The Idempotency-Keys are made when the operator confirms, before
/// anything is sent, so a retried request after a lost answer gets the first certificate back;
/// the card's requests are kept (public data) so a retry sends the same body. On a reused card,
/// its good, unexpired certificates are renewed: the issuance names them (<c>renews</c>) and the
/// CA revokes each as superseded in the transaction that records its successor.
/// <see cref="CardExpiry"/> (YYYY-MM-DD) is the card's expiry once it is personalised, sent as
/// <c>cardExpiry</c> with both issuances and kept so a retry sends the same bodies.
/// <see cref="IssuedSerials"/> are what the CA issued for this enrolment so far, none yet on the
/// card: an enrolment given up (another lookup, logout) revokes them at once.
/// </summary>
public sealed record Enrolment(
    string ResidentCode,
    ResidentFacts Facts,
    long Sequence,
    bool Under15,
    bool Confirmed = false,
    bool WithSigning = false,
    string? OverrideReason = null,
    string? AuthenticationIdempotencyKey = null,
    string? SigningIdempotencyKey = null,
    string? CardLabel = null,
    string? AuthenticationCsr = null,
    string? SigningCsr = null,
    IReadOnlyList<string>? ReplacedSerials = null,
    string? RenewsAuthentication = null,
    string? RenewsSigning = null,
    string? CardExpiry = null,
    IReadOnlyList<string>? IssuedSerials = null);

/// <summary>What the printable receipt shows: never the full resident code.</summary>
public sealed record Receipt(string MaskedResidentCode, string CardLabel, DateTimeOffset IssuedAt, IReadOnlyList<ReceiptLine> Certificates, bool Delivered, IReadOnlyList<string>? ReplacedSerials = null, string? CardExpiry = null);

public sealed record ReceiptLine(string Kind, string Serial, DateTimeOffset NotAfter);
