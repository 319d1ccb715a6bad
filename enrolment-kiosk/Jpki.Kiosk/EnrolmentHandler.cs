using Jpki.Card;
using Jpki.Kiosk.Views;
using Microsoft.AspNetCore.Http;

namespace Jpki.Kiosk;

/// <summary>
/// The enrolment pages: lookup → face-to-face check (and the card) → PINs → keys on the card →
/// issuance → certificates on the card → delivery confirmed → receipt. The steps are the
/// <see cref="Enrolment"/> flow's; the work after the PINs is <see cref="EnrolmentIssuance"/>'s.
/// </summary>
public sealed class EnrolmentHandler(CaClient ca, CardReader cards, ReusedCards reusedCards, EnrolmentIssuance issuance, EnrolmentCleanup cleanup)
{
    public async Task<IResult> EnrolPage(HttpContext context)
    {
        var session = await KioskSession.LoadAsync(context);
        return session is null ? KioskPages.ToLogin(context) : LookupForm(context, session.Account, null);
    }

    public async Task<IResult> Lookup(HttpContext context)
    {
        var text = KioskPages.Text(context);
        if (await KioskSession.LoadAsync(context) is not { } session)
        {
            return KioskPages.ToLogin(context);
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var code = form["residentCode"].ToString().Trim();
        if (KioskPages.ResidentCodeProblem(text, code) is { } invalid)
        {
            return LookupForm(context, session.Account, invalid, 400);
        }

        // A new lookup gives up the enrolment in progress: what it got issued is revoked now.
        var abandoned = await cleanup.AbandonAsync(session, context.RequestAborted);
        if (session.Enrolment is not null)
        {
            session = session with { Enrolment = null };
            session.Save(context);
        }

        var answer = await ca.LookupAsync(session.Token, code, context.RequestAborted);
        if (answer.Status == 401)
        {
            return KioskPages.Expired(context);
        }

        if (!answer.Ok)
        {
            return LookupForm(context, session.Account, CaProblems.Explain(text, answer, text.ResidentCodeInvalid), CaProblems.StatusOf(answer));
        }

        if (ResidentLookup.From(answer) is not { } lookup)
        {
            return LookupForm(context, session.Account, text.LookupUnreadable, 502);
        }

        // What the issuance would refuse is refused here, before a PIN is typed or a key made on a card.
        if (lookup.Refusal is { } refusal)
        {
            return LookupForm(context, session.Account, text.Ineligible(refusal, lookup.Status), 422);
        }

        var enrolment = Enrolment.LookUp(code, lookup.Facts, lookup.Sequence, lookup.Under15, await ExistingAsync(session, code, context.RequestAborted));
        (session with { Enrolment = enrolment, Receipt = null }).Save(context);
        return ConfirmForm(context, session.Account, enrolment, null, note: abandoned.Length > 0 ? $"{text.AbandonedRevoked}: {abandoned}" : null);
    }

    public async Task<IResult> Confirm(HttpContext context)
    {
        var text = KioskPages.Text(context);
        var session = await KioskSession.LoadAsync(context);
        if (session?.Enrolment is not { } enrolment)
        {
            return session is null ? KioskPages.ToLogin(context) : Results.Redirect("/enrol");
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        if (!enrolment.Allows(EnrolmentStep.Confirm))
        {
            // Back in the browser after the keys were made: the enrolment goes on at the PINs.
            return PinForm(context, session.Account, enrolment, [text.AlreadyPersonalised], 409);
        }

        if (form["checked"] != "yes")
        {
            return ConfirmForm(context, session.Account, enrolment, text.MustConfirm, 400);
        }

        CardChoice? card = null;
        if (form["card"].ToString() is { Length: > 0 } label)
        {
            var reused = await reusedCards.ChooseAsync(session.Token, label, context.RequestAborted);
            switch (reused.Problem)
            {
                case ReusedCardProblem.UnknownCard:
                    return ConfirmForm(context, session.Account, enrolment, text.UnknownCard, 400);
                case ReusedCardProblem.CardExpired:
                    return ConfirmForm(context, session.Account, enrolment, text.CardExpired, 400);
                case ReusedCardProblem.SessionEnded:
                    return KioskPages.Expired(context);
                case ReusedCardProblem.CaUnavailable:
                    return ConfirmForm(context, session.Account, enrolment, CaProblems.Explain(text, reused.Answer!, text.IssuanceFailed), 503);
            }

            card = reused.Choice;
        }

        enrolment = enrolment.Confirm(card, form["overrideReason"].ToString());
        (session with { Enrolment = enrolment }).Save(context);
        return PinForm(context, session.Account, enrolment, []);
    }

    public async Task<IResult> Issue(HttpContext context)
    {
        var text = KioskPages.Text(context);
        var session = await KioskSession.LoadAsync(context);
        if (session?.Enrolment is not { AwaitsPins: true } enrolment)
        {
            return session is null ? KioskPages.ToLogin(context) : Results.Redirect("/enrol");
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var problems = PinProblems(text, form, enrolment.WithSigning);
        if (problems.Count > 0)
        {
            return PinForm(context, session.Account, enrolment, problems, 400);
        }

        var pins = new EnrolmentPins(enrolment.WithSigning ? form["signingPin"].ToString() : null, form["authenticationPin"].ToString());
        var outcome = await issuance.RunAsync(session, enrolment, pins, next => (session with { Enrolment = next }).Save(context), context.RequestAborted);
        return Show(context, session, enrolment, outcome);
    }

    public async Task<IResult> ReceiptPage(HttpContext context)
    {
        var session = await KioskSession.LoadAsync(context);
        if (session?.Receipt is not { } receipt)
        {
            return session is null ? KioskPages.ToLogin(context) : Results.Redirect("/");
        }

        return KioskPages.View<ReceiptView>(new { Text = KioskPages.Text(context), session.Account, Receipt = receipt });
    }

    /// <summary>
    /// The resident's good certificates (<c>POST /api/v1/residents/certificates</c>, purpose
    /// <c>enrolment: existing certificates</c>), or null when the CA would not say: they are shown,
    /// not a refusal, since renewing on the resident's card or re-issuing after a revocation are
    /// the window's ordinary work.
    /// </summary>
    private async Task<IReadOnlyList<ExistingCertificate>?> ExistingAsync(KioskSession session, string code, CancellationToken cancellation)
    {
        var listed = await ca.ListCertificatesAsync(session.Token, code, "enrolment: existing certificates", cancellation);
        if (!listed.Ok || listed.Body.ValueKind != System.Text.Json.JsonValueKind.Object || !listed.Body.TryGetProperty("certificates", out var certificates))
        {
            return null;
        }

        return certificates.EnumerateArray()
            .Where(c => c.GetProperty("status").GetString() == "good")
            .Select(c => new ExistingCertificate(c.GetProperty("serial").GetString()!, c.GetProperty("kind").GetString()!, c.GetProperty("notAfter").GetDateTimeOffset()))
            .ToList();
    }

    /// <summary>The page for how the issuance ended.</summary>
    private static IResult Show(HttpContext context, KioskSession session, Enrolment enrolment, IssuanceOutcome outcome)
    {
        var text = KioskPages.Text(context);
        switch (outcome)
        {
            case IssuanceOutcome.Delivered delivered:
                (session with { Enrolment = null, Receipt = delivered.Receipt }).Save(context);
                return Results.Redirect("/enrol/receipt");
            case IssuanceOutcome.SessionEnded:
                return KioskPages.Expired(context);
            case IssuanceOutcome.CardExpired:
                return KioskPages.Message(context, text.CardExpired, text.CardExpired, 400, session.Account, linkHref: "/enrol", linkText: text.Enrol);
            case IssuanceOutcome.CaUnavailable lost:
                var problem = lost.IssuedSoFar.Count > 0
                    ? text.CaDownAfterIssuance + ": " + string.Join(", ", lost.IssuedSoFar)
                    : CaProblems.Explain(text, lost.Failure, text.IssuanceFailed);
                return PinForm(context, session.Account, enrolment, [problem], 503);
            case IssuanceOutcome.KioskStorageFull:
                return PinForm(context, session.Account, enrolment, [text.KioskStorageFull], 503);
            case IssuanceOutcome.Refused refused:
                var message = refused.Failure.Problem == "resident-changed" ? text.ResidentChanged : CaProblems.Explain(text, refused.Failure, text.IssuanceFailed);
                return KioskPages.Message(context, text.IssuanceFailed, message, refused.Failure.Status == 409 ? 409 : 422, session.Account,
                    detail: refused.Revoked.Length > 0 ? $"{text.RevokedUndelivered}: {refused.Revoked}" : null, linkHref: "/enrol", linkText: text.Enrol);
            case IssuanceOutcome.KioskStorageFullAfterIssuance full:
                return KioskPages.Message(context, text.CardFailed, text.KioskStorageFullAfterIssuance, 503, session.Account,
                    detail: $"{text.RevokedUndelivered}: {full.Revoked}", linkHref: "/enrol", linkText: text.Enrol);
            case IssuanceOutcome.CardFailed failed:
                return KioskPages.Message(context, text.CardFailed, text.CardFailed + ": " + failed.Error, 500, session.Account, detail: $"{text.RevokedUndelivered}: {failed.Revoked}");
            default:
                throw new InvalidOperationException($"unknown issuance outcome {outcome}");
        }
    }

    /// <summary>The PIN rules and the confirmation fields, as sentences; none when all is well.</summary>
    private static List<string> PinProblems(KioskText text, IFormCollection form, bool withSigning)
    {
        var signingPin = form["signingPin"].ToString();
        var authenticationPin = form["authenticationPin"].ToString();
        var problems = new List<string>();
        if (withSigning)
        {
            problems.Add(text.Describe(PinRules.Check(CardApplication.Signing, signingPin)));
            problems.Add(signingPin == form["signingPin2"].ToString() ? "" : text.PinsDiffer);
        }

        problems.Add(text.Describe(PinRules.Check(CardApplication.Authentication, authenticationPin)));
        problems.Add(authenticationPin == form["authenticationPin2"].ToString() ? "" : text.PinsDiffer);
        return problems.Where(p => p.Length > 0).Distinct().ToList();
    }

    private static IResult LookupForm(HttpContext context, string account, string? message, int status = 200) =>
        KioskPages.View<LookupView>(new { Text = KioskPages.Text(context), Account = account, Message = message }, status);

    private IResult ConfirmForm(HttpContext context, string account, Enrolment enrolment, string? message, int status = 200, string? note = null) =>
        KioskPages.View<ConfirmView>(new { Text = KioskPages.Text(context), Account = account, Enrolment = enrolment, Cards = cards.List(), Message = message, Note = note }, status);

    private static IResult PinForm(HttpContext context, string account, Enrolment enrolment, IReadOnlyList<string> problems, int status = 200) =>
        KioskPages.View<PinView>(new { Text = KioskPages.Text(context), Account = account, enrolment.WithSigning, Problems = problems }, status);
}
