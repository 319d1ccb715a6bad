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

    /// <summary>
    /// The operator's request: which certificates, and why. Nothing is revoked here: the page that
    /// answers names each certificate (serial, kind, validity, status) for the operator to confirm.
    /// </summary>
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
        if (KioskPages.ResidentCodeProblem(text, code) is { } invalid)
        {
            return RevokeForm(context, session.Account, invalid, 400);
        }

        var serials = new[] { form["serial1"].ToString().Trim(), form["serial2"].ToString().Trim() }.Where(s => s.Length > 0).ToList();
        if (form["card"].ToString() is { Length: > 0 } label && cards.Store.Exists(label))
        {
            serials.AddRange(cards.Certificates(label).Select(c => c.Serial));
        }

        serials = serials.Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        List<RevocationCandidate> candidates;
        int? foundByCode = null;
        if (serials.Count == 0)
        {
            var listed = await ca.ListCertificatesAsync(session.Token, code, cause == "cardLost" ? "revocation: card lost" : "revocation: no longer needed", context.RequestAborted);
            if (FoundNothing(context, session, listed) is { } refusal)
            {
                return refusal;
            }

            candidates = GoodCertificates(listed);
            logger.LogInformation("Operator {Account} listed a resident's certificates to revoke ({Cause}): {Count} good", session.Account, cause, candidates.Count);
            if (candidates.Count == 0)
            {
                return RevokeForm(context, session.Account, text.NoCertificatesFound, 404);
            }

            foundByCode = candidates.Count;
        }
        else if (await CandidatesBySerialAsync(session.Token, serials, text, context.RequestAborted) is { } bySerial)
        {
            candidates = bySerial;
        }
        else
        {
            return KioskPages.Expired(context);
        }

        var pending = new PendingRevocation(Guid.NewGuid().ToString("N"), code, cause, candidates, foundByCode);
        (session with { Revocation = pending }).Save(context);
        return ConfirmPage(context, session.Account, pending);
    }

    /// <summary>Each serial's status at the CA, to name it on the confirmation page; null when the operator's session expired.</summary>
    private async Task<List<RevocationCandidate>?> CandidatesBySerialAsync(string token, List<string> serials, KioskText text, CancellationToken cancellationToken)
    {
        var candidates = new List<RevocationCandidate>();
        foreach (var serial in serials)
        {
            var answer = await ca.CertificateStatusAsync(token, serial, cancellationToken);
            if (answer.Status == 401)
            {
                return null;
            }

            candidates.Add(answer.Ok
                ? new RevocationCandidate(answer.Member("serial") ?? serial, answer.Member("kind"), null, Instant(answer.Member("notAfter")), answer.Member("status"))
                : new RevocationCandidate(serial, null, null, null, null, CaProblems.Explain(text, answer, text.Refused)));
        }

        return candidates;
    }

    /// <summary>The operator confirmed the page: exactly the certificates it named as revocable are revoked, once.</summary>
    public async Task<IResult> ConfirmRevocation(HttpContext context)
    {
        var text = KioskPages.Text(context);
        if (await KioskSession.LoadAsync(context) is not { } session)
        {
            return KioskPages.ToLogin(context);
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        if (session.Revocation is not { } pending || form["pending"] != pending.Id)
        {
            return RevokeForm(context, session.Account, text.RevokeNothingPending, 409);
        }

        // Dropped before anything is sent: a second press of the button revokes nothing more.
        (session with { Revocation = null }).Save(context);
        return await RevokeEachAsync(context, session, pending);
    }

    /// <summary>The operator cancelled: the request is dropped and nothing is sent to the CA.</summary>
    public async Task<IResult> CancelRevocation(HttpContext context)
    {
        if (await KioskSession.LoadAsync(context) is not { } session)
        {
            return KioskPages.ToLogin(context);
        }

        (session with { Revocation = null }).Save(context);
        logger.LogInformation("Operator {Account} cancelled a revocation before confirming it", session.Account);
        return RevokeForm(context, session.Account, null, note: KioskPages.Text(context).RevokeCancelled);
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

    private static List<RevocationCandidate> GoodCertificates(CaAnswer listed) =>
        listed.Body.GetProperty("certificates").EnumerateArray()
            .Where(c => c.GetProperty("status").GetString() == "good")
            .Select(c => new RevocationCandidate(
                c.GetProperty("serial").GetString()!,
                c.GetProperty("kind").GetString(),
                Instant(c.GetProperty("notBefore").GetString()),
                Instant(c.GetProperty("notAfter").GetString()),
                "good"))
            .ToList();

    private static DateTimeOffset? Instant(string? value) =>
        DateTimeOffset.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var instant) ? instant : null;

    private async Task<IResult> RevokeEachAsync(HttpContext context, KioskSession session, PendingRevocation pending)
    {
        var text = KioskPages.Text(context);
        var lines = new List<RevocationLine>();
        foreach (var serial in pending.Revocable)
        {
            var answer = await ca.RevokeAsync(session.Token, serial, pending.Cause, pending.ResidentCode, context.RequestAborted);
            if (answer.Status == 401)
            {
                return KioskPages.Expired(context);
            }

            var outcome = answer.Ok
                ? answer.Member("outcome") == "alreadyRevoked" ? text.AlreadyRevoked : text.RevokeDone
                : CaProblems.Explain(text, answer, text.Refused);
            logger.LogInformation("Operator {Account} asked to revoke {Serial} ({Cause}): {Status}", session.Account, serial, pending.Cause, answer.Status);
            lines.Add(new RevocationLine(serial, answer.Ok, outcome));
        }

        return KioskPages.View<RevocationsView>(new { Text = text, session.Account, pending.FoundByCode, Lines = lines });
    }

    private static IResult ConfirmPage(HttpContext context, string account, PendingRevocation pending) =>
        KioskPages.View<RevokeConfirmView>(new { Text = KioskPages.Text(context), Account = account, Pending = pending });

    private IResult RevokeForm(HttpContext context, string account, string? message, int status = 200, string? note = null) =>
        KioskPages.View<RevokeView>(new { Text = KioskPages.Text(context), Account = account, Cards = cards.List(), Message = message, Note = note }, status);
}
