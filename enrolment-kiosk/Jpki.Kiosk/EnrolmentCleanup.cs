using Microsoft.Extensions.Logging;

namespace Jpki.Kiosk;

/// <summary>
/// What an enrolment that ends without delivery leaves behind, revoked at the CA as the operator:
/// the certificates issued for it but never written to the card (destroyedBeforeDelivery; the
/// CA's sweeper is the backstop when the CA cannot be reached) and, once the card was
/// re-personalised, the old certificates of a reused card, whose keys are gone (renewal).
/// </summary>
public sealed class EnrolmentCleanup(CaClient ca, ILogger<EnrolmentCleanup> logger)
{
    /// <summary>
    /// Gives up the session's enrolment (another lookup, logout). Returns the serials revoked as
    /// undelivered; a CA still unreachable leaves them to its sweeper.
    /// </summary>
    public async Task<string> AbandonAsync(KioskSession session, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.Enrolment is not { } enrolment)
        {
            return "";
        }

        var abandoned = enrolment.Abandon();
        var revoked = new List<string>();
        foreach (var serial in abandoned.IssuedSerials)
        {
            var revocation = await ca.RevokeAsync(session.Token, serial, "destroyedBeforeDelivery", abandoned.ResidentCode, cancellation);
            logger.LogWarning("Operator {Account} gave up an enrolment: undelivered certificate {Serial} revocation: {Status}", session.Account, serial, revocation.Status);
            if (revocation.Ok)
            {
                revoked.Add(serial);
            }
        }

        await RevokeReplacedIfGoneAsync(session.Token, abandoned, cancellation);
        return string.Join(", ", revoked);
    }

    /// <summary>
    /// A failed enrolment (<see cref="Enrolment.Fail"/>): every certificate issued for it is
    /// revoked as destroyed before delivery, and a re-personalised card's old ones as renewed.
    /// Returns the serials asked to be revoked as undelivered.
    /// </summary>
    public async Task<string> CleanUpFailedAsync(string token, Enrolment failed, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(failed);
        if (failed.State != EnrolmentState.Failed)
        {
            throw new ArgumentException($"only a failed enrolment is cleaned up, not one in state {failed.State}", nameof(failed));
        }

        foreach (var serial in failed.IssuedSerials)
        {
            var revocation = await ca.RevokeAsync(token, serial, "destroyedBeforeDelivery", failed.ResidentCode, cancellation);
            logger.LogWarning("Undelivered certificate {Serial} revocation: {Status}", serial, revocation.Status);
        }

        await RevokeReplacedIfGoneAsync(token, failed, cancellation);
        return string.Join(", ", failed.IssuedSerials);
    }

    /// <summary>
    /// A reused card whose old keys were already destroyed by the new personalisation can never
    /// use its old certificates again: they are superseded (renewal) even when the new ones
    /// were refused, so no good certificate is left without its key.
    /// </summary>
    private async Task RevokeReplacedIfGoneAsync(string token, Enrolment enrolment, CancellationToken cancellation)
    {
        if (!enrolment.KeysReplaced)
        {
            return;
        }

        foreach (var serial in enrolment.ReplacedSerials ?? [])
        {
            var revocation = await ca.RevokeAsync(token, serial, "renewal", enrolment.ResidentCode, cancellation);
            logger.LogWarning("Certificate {Serial} of a re-personalised card revoked: {Status}", serial, revocation.Status);
        }
    }
}
