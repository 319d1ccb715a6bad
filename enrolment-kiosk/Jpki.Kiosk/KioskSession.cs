using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Jpki.Kiosk;

/// <summary>
/// What the kiosk keeps per browser, server side (ASP.NET Core session, keyed by an HttpOnly,
/// SameSite=Strict cookie): the operator's CA session token, the municipalities the CA binds the
/// operator to (the cards the operator may touch), and the enrolment in progress.
/// Never a PIN: PINs go from the form to the card within one request.
/// </summary>
public sealed record KioskSession(string Account, string Token, DateTimeOffset TokenExpiresAt, Enrolment? Enrolment, Receipt? Receipt, IReadOnlyList<string>? MunicipalityCodes = null, PendingRevocation? Revocation = null)
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
public sealed record ResidentFacts(string Name, string DateOfBirth, int Sex, string Address, string Municipality, string? MunicipalityCode = null, string? MunicipalityJa = null)
{
    /// <summary>The municipality as a page in <paramref name="text"/>'s language writes it: in kanji on Japanese pages when the CA knows it.</summary>
    public string MunicipalityIn(KioskText text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Lang == "ja" && MunicipalityJa is { Length: > 0 } ja ? ja : Municipality;
    }
}

/// <summary>What the printable receipt shows: never the full resident code.</summary>
public sealed record Receipt(string MaskedResidentCode, string CardLabel, DateTimeOffset IssuedAt, IReadOnlyList<ReceiptLine> Certificates, bool Delivered, IReadOnlyList<string>? ReplacedSerials = null, string? CardExpiry = null)
{
    /// <summary>The receipt shows only the last 4 digits of the resident code.</summary>
    public static string Mask(string residentCode)
    {
        ArgumentNullException.ThrowIfNull(residentCode);
        return new string('*', Math.Max(0, residentCode.Length - 4)) + residentCode[Math.Max(0, residentCode.Length - 4)..];
    }
}

public sealed record ReceiptLine(string Kind, string Serial, DateTimeOffset NotAfter);

/// <summary>
/// A revocation asked for at the window and shown for confirmation, not yet sent: exactly the
/// certificates the confirmation page named. <paramref name="Id"/> is in the page's form, so a
/// confirmation revokes what that page showed and nothing another tab asked for since.
/// </summary>
public sealed record PendingRevocation(string Id, string ResidentCode, string Cause, IReadOnlyList<RevocationCandidate> Certificates, int? FoundByCode)
{
    /// <summary>The serials the confirmation revokes: those the CA said are good.</summary>
    public IReadOnlyList<string> Revocable => Certificates.Where(c => c.Revocable).Select(c => c.Serial).ToList();
}

/// <summary>
/// One certificate on the confirmation page, as the CA described it: kind, validity (notBefore is
/// known when the CA listed it by the resident code) and status; <paramref name="Problem"/> is the
/// CA's refusal when it could not be described (no such serial).
/// </summary>
public sealed record RevocationCandidate(string Serial, string? Kind, DateTimeOffset? NotBefore, DateTimeOffset? NotAfter, string? Status, string? Problem = null)
{
    public bool Revocable => Status == "good";
}
