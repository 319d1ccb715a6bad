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
