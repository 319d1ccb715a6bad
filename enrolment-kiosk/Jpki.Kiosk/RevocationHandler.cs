using Jpki.Card;
using Jpki.Kiosk.Views;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Jpki.Kiosk;

/// <summary>One revocation asked for at the window, as the result page lists it.</summary>
public sealed record RevocationLine(string Serial, bool Revoked, string Outcome);

/// <summary>
/// Revocation of a lost or unneeded card's certificates: by the serials on the receipt, by the
/// card, or with neither by the resident code (the CA lists the resident's good certificates).
/// A lost card's are revoked keyCompromise (the CA maps the cause).
/// </summary>
public sealed class RevocationHandler(CaClient ca, CardReader cards, ILogger<RevocationHandler> logger)
{
    public async Task<IResult> RevokePage(HttpContext context)
    {
        var session = await KioskSession.LoadAsync(context);
        return session is null ? KioskPages.ToLogin(context) : RevokeForm(context, session.Account, null);
    }

    public async Task<IResult> Revoke(HttpContext context)
    {
        var text = KioskPages.Text(context);
        if (await KioskSession.LoadAsync(context) is not { } session)
        {
            return KioskPages.ToLogin(context);
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var code = form["residentCode"].ToString().Trim();
        var cause = form["cause"] == "noLongerNeeded" ? "noLongerNeeded" : "cardLost";
        if (code.Length != 11 || !code.All(char.IsAsciiDigit))
        {
            return RevokeForm(context, session.Account, text.ResidentCodeInvalid, 400);
        }

        var serials = new[] { form["serial1"].ToString().Trim(), form["serial2"].ToString().Trim() }.Where(s => s.Length > 0).ToList();
        if (form["card"].ToString() is { Length: > 0 } label && cards.Store.Exists(label))
        {
            serials.AddRange(cards.Certificates(label).Select(c => c.Serial));
        }

        int? foundByCode = null;
        if (serials.Count == 0)
        {
            var listed = await ca.ListCertificatesAsync(session.Token, code, cause == "cardLost" ? "revocation: card lost" : "revocation: no longer needed", context.RequestAborted);
            if (FoundNothing(context, session, listed) is { } refusal)
            {
                return refusal;
            }

            var good = GoodSerials(listed);
            logger.LogInformation("Operator {Account} listed a resident's certificates to revoke ({Cause}): {Count} good", session.Account, cause, good.Count);
            if (good.Count == 0)
            {
                return RevokeForm(context, session.Account, text.NoCertificatesFound, 404);
            }

            serials.AddRange(good);
            foundByCode = good.Count;
        }

        serials = serials.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        if (serials.Count == 0)
        {
            return RevokeForm(context, session.Account, text.NothingToRevoke, 400);
        }

        return await RevokeEachAsync(context, session, serials, cause, code, foundByCode);
    }

    /// <summary>Neither card nor receipt: the CA's list of the resident's certificates (the code in the body, hashed there; the read logged with its purpose), or the page when it could not be had.</summary>
    private IResult? FoundNothing(HttpContext context, KioskSession session, CaAnswer listed)
    {
        if (listed.Status == 401)
        {
            return KioskPages.Expired(context);
        }

        var text = KioskPages.Text(context);
        return listed.Ok ? null : RevokeForm(context, session.Account, CaProblems.Explain(text, listed, text.Refused), CaProblems.StatusOf(listed));
    }

    private static List<string> GoodSerials(CaAnswer listed) =>
        listed.Body.GetProperty("certificates").EnumerateArray()
            .Where(c => c.GetProperty("status").GetString() == "good")
            .Select(c => c.GetProperty("serial").GetString()!)
            .ToList();

    private async Task<IResult> RevokeEachAsync(HttpContext context, KioskSession session, List<string> serials, string cause, string code, int? foundByCode)
    {
        var text = KioskPages.Text(context);
        var lines = new List<RevocationLine>();
        foreach (var serial in serials)
        {
            var answer = await ca.RevokeAsync(session.Token, serial, cause, code, context.RequestAborted);
            if (answer.Status == 401)
            {
                return KioskPages.Expired(context);
            }

            var outcome = answer.Ok
                ? answer.Member("outcome") == "alreadyRevoked" ? text.AlreadyRevoked : text.RevokeDone
                : CaProblems.Explain(text, answer, text.Refused);
            logger.LogInformation("Operator {Account} asked to revoke {Serial} ({Cause}): {Status}", session.Account, serial, cause, answer.Status);
            lines.Add(new RevocationLine(serial, answer.Ok, outcome));
        }

        return KioskPages.View<RevocationsView>(new { Text = text, session.Account, FoundByCode = foundByCode, Lines = lines });
    }

    private IResult RevokeForm(HttpContext context, string account, string? message, int status = 200) =>
        KioskPages.View<RevokeView>(new { Text = KioskPages.Text(context), Account = account, Cards = cards.List(), Message = message }, status);
}
