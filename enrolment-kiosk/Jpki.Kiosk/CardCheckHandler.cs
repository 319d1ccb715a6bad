using System.Globalization;
using Jpki.Card;
using Jpki.Hosting;
using Jpki.Kiosk.Views;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Jpki.Kiosk;

/// <summary>
/// The resident tries a PIN on the card: right, wrong (tries left) or locked, each a clear
/// sentence. A PIN tried counts against the card: only an operator of the holder's municipality may.
/// </summary>
public sealed class CardCheckHandler(CardReader cards, ILogger<CardCheckHandler> logger)
{
    public async Task<IResult> CardCheckPage(HttpContext context)
    {
        var session = await KioskSession.LoadAsync(context);
        return session is null ? KioskPages.ToLogin(context) : CardCheckForm(context, session, null, null);
    }

    public async Task<IResult> CardCheck(HttpContext context)
    {
        var text = KioskPages.Text(context);
        if (await KioskSession.LoadAsync(context) is not { } session)
        {
            return KioskPages.ToLogin(context);
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var label = form["card"].ToString();
        var application = form["application"] == "signing" ? CardApplication.Signing : CardApplication.Authentication;
        // The next try is on the same card and application: the form comes back as it was sent.
        var selected = new CardCheckChoice(label, application == CardApplication.Signing ? "signing" : "authentication");
        if (!cards.Store.Exists(label) || !cards.IsVisible(label))
        {
            return CardCheckForm(context, session, text.UnknownCard, null, 400, selected);
        }

        if (!session.IsBoundTo(cards.Describe(label).MunicipalityCode))
        {
            logger.LogWarning("Operator {Account} refused a PIN check on card {Card} of another municipality", session.Account, label);
            context.Refuse("the card belongs to a municipality the operator is not bound to");
            return CardCheckForm(context, session, text.CardNotYours, null, 403, selected);
        }

        try
        {
            cards.VerifyPin(label, application, form["pin"].ToString());
            return CardCheckForm(context, session, null, text.PinOk, selected: selected);
        }
        catch (CardPinFormatException e)
        {
            return CardCheckForm(context, session, text.Describe(e.Problem), null, 400, selected);
        }
        catch (CardWrongPinException e)
        {
            return CardCheckForm(context, session, string.Format(CultureInfo.InvariantCulture, text.WrongPin, e.TriesLeft), null, 403, selected);
        }
        catch (CardLockedException)
        {
            return CardCheckForm(context, session, text.CardLocked, null, 423, selected);
        }
    }

    /// <summary>The form lists only the cards of the operator's own municipalities.</summary>
    private IResult CardCheckForm(HttpContext context, KioskSession session, string? error, string? success, int status = 200, CardCheckChoice? selected = null) =>
        KioskPages.View<CardCheckView>(
            new { Text = KioskPages.Text(context), session.Account, Cards = cards.List().Where(c => session.IsBoundTo(c.MunicipalityCode)).ToList(), Error = error, Success = success, Selected = selected },
            status);
}

/// <summary>The card and application of the last try, selected again in the form.</summary>
public sealed record CardCheckChoice(string Card, string Application);
