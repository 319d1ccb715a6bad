using System.Globalization;
using Jpki.Card;
using Microsoft.Extensions.Logging;

namespace Jpki.Kiosk;

/// <summary>The PINs the resident typed, checked against the rules; the signing PIN only when a signing certificate is issued.</summary>
public sealed record EnrolmentPins(string? Signing, string Authentication);

/// <summary>How an issuance at the window ended.</summary>
public abstract record IssuanceOutcome
{
    /// <summary>The certificates are on the card; the receipt says what was issued and replaced.</summary>
    public sealed record Delivered(Receipt Receipt) : IssuanceOutcome;

    /// <summary>The CA says the operator's session is over.</summary>
    public sealed record SessionEnded : IssuanceOutcome;

    /// <summary>The card has expired: nothing was changed; the enrolment is over.</summary>
    public sealed record CardExpired : IssuanceOutcome;

    /// <summary>
    /// The CA could not answer (unreachable, 5xx): the enrolment is kept, with its keys, requests
    /// and Idempotency-Keys, so a retry gets the same certificates back. <paramref name="IssuedSoFar"/>
    /// are already issued and not on the card: the CA's sweeper revokes them if no retry comes.
    /// </summary>
    public sealed record CaUnavailable(CaAnswer Failure, IReadOnlyList<string> IssuedSoFar) : IssuanceOutcome;

    /// <summary>Refused for good: the enrolment is over and what it got issued was revoked (<paramref name="Revoked"/>).</summary>
    public sealed record Refused(CaAnswer Failure, string Revoked) : IssuanceOutcome;

    /// <summary>
    /// The kiosk's own card store is full (a new card or its keys could not be recorded): nothing was
    /// asked of the CA; the enrolment is kept, and the retry, once space is freed, goes on from where
    /// it stopped (decision 0821).
    /// </summary>
    public sealed record KioskStorageFull(string Error) : IssuanceOutcome;

    /// <summary>
    /// The kiosk's own card store filled after the CA issued and before the certificates were on the
    /// card (the card refuses a PIN try it cannot count): the enrolment is over and what it got issued
    /// was revoked at once (<paramref name="Revoked"/>), as for any failed card write.
    /// </summary>
    public sealed record KioskStorageFullAfterIssuance(string Error, string Revoked) : IssuanceOutcome;

    /// <summary>Writing to the card failed: the enrolment is over and what it got issued was revoked.</summary>
    public sealed record CardFailed(string Error, string Revoked) : IssuanceOutcome;
}

/// <summary>
/// The enrolment's work after the PINs: a blank card from the kiosk's stock (unless a card was
/// chosen), keys made on it and requests signed there, the certificates issued by the CA under
/// the enrolment's Idempotency-Keys, written to the card, their delivery confirmed, and a reused
/// card's old certificates superseded. Each step is saved (through <c>save</c>) as soon as it is
/// done, so a retry after a lost answer continues where this one stopped. Logs name the operator
/// and serials, never a resident code, name or address.
/// </summary>
public sealed class EnrolmentIssuance(CaClient ca, CardReader cards, EnrolmentCleanup cleanup, KioskOptions options, TimeProvider time, ILogger<EnrolmentIssuance> logger)
{
    public async Task<IssuanceOutcome> RunAsync(KioskSession session, Enrolment enrolment, EnrolmentPins pins, Action<Enrolment?> save, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(enrolment);
        ArgumentNullException.ThrowIfNull(pins);
        ArgumentNullException.ThrowIfNull(save);
        if (enrolment.State == EnrolmentState.Confirmed)
        {
            try
            {
                if (Personalise(enrolment, pins, save) is not { } personalised)
                {
                    return new IssuanceOutcome.CardExpired();
                }

                enrolment = personalised;
            }
            catch (CardStoreFullException e)
            {
                // Before any request reached the CA: the enrolment stays as it was saved (with the card, if one was made).
                logger.LogError("The kiosk's card store is full; nothing was issued for operator {Account}: {Error}", session.Account, e.Message);
                return new IssuanceOutcome.KioskStorageFull(e.Message);
            }
        }

        var issued = new List<(CardApplication Application, CaAnswer Answer)>();
        foreach (var planned in enrolment.Issuances())
        {
            var request = new IssueRequest(enrolment.ResidentCode, planned.Kind, planned.Csr, options.WindowId, enrolment.Sequence, planned.Override, planned.Renews, enrolment.CardExpiry);
            var answer = await ca.IssueAsync(session.Token, request, planned.IdempotencyKey, cancellation);
            if (!answer.Ok)
            {
                return await FailedAsync(session, enrolment, answer, save, cancellation);
            }

            logger.LogInformation("Operator {Account} issued {Kind} certificate {Serial} onto card {Card}", session.Account, planned.Kind, answer.Member("serial"), enrolment.CardLabel);
            issued.Add((planned.Application, answer));
            enrolment = enrolment.RecordIssued(planned.Application, answer.Member("serial")!);
            save(enrolment);
        }

        if (await WriteToCardAsync(session, enrolment, issued, pins, save, cancellation) is { } failed)
        {
            return failed;
        }

        return new IssuanceOutcome.Delivered(await DeliverAsync(session, enrolment.Deliver(), issued, cancellation));
    }

    /// <summary>The issued certificates onto the card; when that fails (a card error, a full card store), the outcome after revoking them at once, else null.</summary>
    private async Task<IssuanceOutcome?> WriteToCardAsync(KioskSession session, Enrolment enrolment, List<(CardApplication Application, CaAnswer Answer)> issued, EnrolmentPins pins, Action<Enrolment?> save, CancellationToken cancellation)
    {
        try
        {
            foreach (var (application, answer) in issued)
            {
                cards.WriteCertificate(enrolment.CardLabel!, application, application == CardApplication.Signing ? pins.Signing! : pins.Authentication, PemToDer(answer.Member("certificatePem")!));
            }
        }
        catch (CardStoreFullException e)
        {
            // Issued, not on the card: nothing issued may stay good undelivered, so it is revoked now
            // rather than left to the CA's sweeper; the card's state is as it was (the try was refused uncounted).
            logger.LogError("The kiosk's card store is full after issuance; certificates {Serials} are not written to card {Card} and are revoked (operator {Account}): {Error}", string.Join(", ", enrolment.IssuedSerials), enrolment.CardLabel, session.Account, e.Message);
            var revoked = await cleanup.CleanUpFailedAsync(session.Token, enrolment.Fail(), cancellation);
            save(null);
            return new IssuanceOutcome.KioskStorageFullAfterIssuance(e.Message, revoked);
        }
        catch (CardException e)
        {
            logger.LogWarning("Writing certificates to card {Card} failed: {Error}", enrolment.CardLabel, e.Message);
            var revoked = await cleanup.CleanUpFailedAsync(session.Token, enrolment.Fail(), cancellation);
            save(null);
            return new IssuanceOutcome.CardFailed(e.Message, revoked);
        }

        return null;
    }

    /// <summary>
    /// The card gets its keys and its expiry now, from the date of birth the lookup showed (a card
    /// that already has one keeps it), and both issuances send it, so no certificate outlives the
    /// card. The requests are kept so that a retry sends the same body under the same Idempotency-Key.
    /// Null when the card has expired (the enrolment is then over).
    /// </summary>
    private Enrolment? Personalise(Enrolment enrolment, EnrolmentPins pins, Action<Enrolment?> save)
    {
        if (enrolment.CardLabel is null)
        {
            enrolment = enrolment.AssignCard(cards.CreateBlank());
            save(enrolment);
        }

        try
        {
            var expires = JstDates.CardExpiryFor(enrolment.Facts.DateOfBirth, time.GetUtcNow());
            var requests = cards.Personalise(enrolment.CardLabel!, enrolment.WithSigning ? pins.Signing : null, pins.Authentication, expires, enrolment.Facts.MunicipalityCode);
            enrolment = enrolment.Personalise(requests);
            save(enrolment);
            return enrolment;
        }
        catch (CardExpiredException)
        {
            save(null);
            return null;
        }
    }

    private async Task<IssuanceOutcome> FailedAsync(KioskSession session, Enrolment enrolment, CaAnswer failure, Action<Enrolment?> save, CancellationToken cancellation)
    {
        if (failure.Status == 401)
        {
            return new IssuanceOutcome.SessionEnded();
        }

        logger.LogWarning("Issuance refused for operator {Account}: {Status} {Problem}", session.Account, failure.Status, failure.Problem);
        if (failure.Unreachable || failure.Status >= 500)
        {
            // Part of the enrolment may already be issued (authentication before signing): nothing
            // is on the card yet and the CA's sweeper revokes it if the retry never comes.
            if (enrolment.IssuedSerials.Count > 0)
            {
                logger.LogWarning("CA lost by operator {Account} after issuing {Serials}; nothing written to card {Card}", session.Account, string.Join(", ", enrolment.IssuedSerials), enrolment.CardLabel);
            }

            return new IssuanceOutcome.CaUnavailable(failure, enrolment.IssuedSerials);
        }

        // Refused for good: nothing issued for this enrolment may stay undelivered.
        var revoked = await cleanup.CleanUpFailedAsync(session.Token, enrolment.Fail(), cancellation);
        save(null);
        return new IssuanceOutcome.Refused(failure, revoked);
    }

    /// <summary>
    /// The certificates are on the card: the CA is told (a delivery it does not hear of is revoked
    /// by its sweeper, and the receipt says so), and a reused card's old certificates that the CA
    /// did not supersede by renewal are revoked as superseded now.
    /// </summary>
    private async Task<Receipt> DeliverAsync(KioskSession session, Enrolment delivered, List<(CardApplication Application, CaAnswer Answer)> issued, CancellationToken cancellation)
    {
        var confirmed = true;
        foreach (var serial in delivered.IssuedSerials)
        {
            var confirmation = await ca.ConfirmDeliveryAsync(session.Token, serial, cancellation);
            confirmed &= confirmation.Ok;
        }

        // Renewed certificates were superseded by the CA when their successors were recorded.
        var renewed = issued.Select(i => i.Answer.Member("renewed")).OfType<string>().ToHashSet(StringComparer.OrdinalIgnoreCase);
        var replacedRevoked = new List<string>(renewed);
        foreach (var old in delivered.ReplacedSerials ?? [])
        {
            if (delivered.IssuedSerials.Contains(old, StringComparer.OrdinalIgnoreCase) || renewed.Contains(old))
            {
                continue;
            }

            var revocation = await ca.RevokeAsync(session.Token, old, "renewal", delivered.ResidentCode, cancellation);
            logger.LogInformation("Operator {Account} replaced certificate {Serial} on card {Card}: {Status}", session.Account, old, delivered.CardLabel, revocation.Status);
            if (revocation.Ok)
            {
                replacedRevoked.Add(old);
            }
        }

        var lines = issued.Select(i => new ReceiptLine(
            i.Application == CardApplication.Signing ? "signing" : "authentication",
            i.Answer.Member("serial")!,
            DateTimeOffset.Parse(i.Answer.Member("notAfter")!, CultureInfo.InvariantCulture))).ToList();
        return new Receipt(Receipt.Mask(delivered.ResidentCode), delivered.CardLabel!, time.GetUtcNow(), lines, confirmed, replacedRevoked, delivered.CardExpiry);
    }

    private static byte[] PemToDer(string pem) =>
        Convert.FromBase64String(string.Concat(pem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal)).Select(l => l.Trim())));
}
