using Jpki.Card;

namespace Jpki.Kiosk;

/// <summary>Why a card the operator chose at the confirmation cannot be used.</summary>
public enum ReusedCardProblem
{
    None,
    UnknownCard,
    CardExpired,
    SessionEnded,
    CaUnavailable,
}

/// <summary>The card chosen, or why not (with the CA's answer when the CA was the reason).</summary>
public sealed record ReusedCard(CardChoice? Choice, ReusedCardProblem Problem = ReusedCardProblem.None, CaAnswer? Answer = null);

/// <summary>
/// An existing card chosen at the confirmation (renewal, PIN reset after a lock, re-issue): its
/// certificates now are the ones the new ones replace. A good, unexpired one is renewed: the
/// issuance names it (renews) and the CA supersedes it in the same transaction, counting the 6th
/// birthday in its last 3 months. Any other still good one is revoked as superseded once the new
/// ones are on the card (its key is gone with the re-personalisation).
/// </summary>
public sealed class ReusedCards(CaClient ca, CardReader cards, TimeProvider time)
{
    public async Task<ReusedCard> ChooseAsync(string token, string label, CancellationToken cancellation)
    {
        if (!cards.Store.Exists(label) || !cards.IsVisible(label))
        {
            return new ReusedCard(null, ReusedCardProblem.UnknownCard);
        }

        // An expired card can carry no certificate: refused before anything is sent or changed.
        if (cards.Store.Load(label).Expires is { } expires && expires < CardExpiry.JstDate(time.GetUtcNow()))
        {
            return new ReusedCard(null, ReusedCardProblem.CardExpired);
        }

        var onCard = cards.Certificates(label);
        string? renewsAuthentication = null;
        string? renewsSigning = null;
        foreach (var old in onCard)
        {
            var status = await ca.CertificateStatusAsync(token, old.Serial, cancellation);
            if (status.Status == 401)
            {
                return new ReusedCard(null, ReusedCardProblem.SessionEnded, status);
            }

            if (status.Unreachable || status.Status >= 500)
            {
                return new ReusedCard(null, ReusedCardProblem.CaUnavailable, status);
            }

            if (status.Ok && status.Member("status") == "good" && old.NotAfter > time.GetUtcNow())
            {
                if (old.Application == CardApplication.Signing)
                {
                    renewsSigning = old.Serial;
                }
                else
                {
                    renewsAuthentication = old.Serial;
                }
            }
        }

        return new ReusedCard(new CardChoice(label, onCard.Select(c => c.Serial).ToList(), renewsAuthentication, renewsSigning));
    }
}
