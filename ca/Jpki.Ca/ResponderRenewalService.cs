using Jpki.Core.Issuers;
using Microsoft.Extensions.Logging;

namespace Jpki.Ca;

/// <summary>
/// Renews every active issuer key's delegated OCSP responder certificate at 60 of its 90 days
/// (<see cref="ResponderRenewal"/>), checking at start-up and then every
/// <see cref="CaOptions.ResponderRenewalCheckInterval"/>. The CA does it because it holds the
/// issuer keys; the OCSP responders pick the new certificate up from the store.
/// </summary>
public sealed class ResponderRenewalService(CaServices services, ILogger<ResponderRenewalService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var renewal = new ResponderRenewal(
            services.Database,
            services.Token,
            services.IssuancePool,
            services.Audit,
            CeremonySettingsView.From(services.Settings.Ceremony));
        while (!stoppingToken.IsCancellationRequested)
        {
            // Every active generation: after a rollover the old one still answers OCSP for its certificates.
            foreach (var key in Active(services))
            {
                var issuerId = key.Issuer.Id;
                try
                {
                    // HSM key generation and signing block: off the host's start-up thread. No signature with a wrong clock.
                    var renewed = await Task.Run(
                        () =>
                        {
                            services.Clock.EnsureMaySign();
                            return renewal.RenewIfDue(key.Key.Id, key.Key.CertificateDer!, key.Signer);
                        },
                        stoppingToken);
                    if (renewed is not null)
                    {
                        logger.LogInformation("renewed the OCSP responder certificate of {IssuerKeyId} ({IssuerId}): serial {Serial}", key.Key.Id, issuerId, renewed);
                    }
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Jpki.Core.Clock.ClockUnsynchronisedException e)
                {
                    logger.LogWarning("the OCSP responder certificate of {IssuerKeyId} is not renewed while the clock check refuses ({Reason}); retrying at the next check", key.Key.Id, e.Verdict.Reason);
                }
#pragma warning disable CA1031 // One issuer key's failure must not stop the others' renewal; retried next round.
                catch (Exception e)
#pragma warning restore CA1031
                {
                    logger.LogError(e, "renewing the OCSP responder certificate of {IssuerKeyId} failed; retrying at the next check", key.Key.Id);
                }
            }

            await Task.Delay(services.Options.ResponderRenewalCheckInterval, services.Options.Time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private IReadOnlyList<ActiveIssuerKey> Active(CaServices caServices)
    {
        try
        {
            return caServices.IssuerKeys.Active();
        }
#pragma warning disable CA1031 // A key that cannot be opened now is retried at the next check.
        catch (Exception e)
#pragma warning restore CA1031
        {
            logger.LogError(e, "reading the issuer keys failed; retrying at the next check");
            return [];
        }
    }
}
