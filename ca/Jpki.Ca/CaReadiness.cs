using Jpki.Core.Store;
using Jpki.Hosting;
using Jpki.Hsm;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.Ca;

/// <summary>
/// <c>GET /readyz</c> of the CA: it can issue and revoke now — the store answers, the issuance
/// HSM pool signs, the clock check lets it sign. Juki-Net and the feed's gap or silence alarms are
/// left out on purpose: they are the same for every CA instance, so they would take all of them
/// out of the load balancer at once while revocations, queries and the auditor pages still work
/// (they stay in <c>/healthz</c>, for people). docs/decisions/0501.
/// </summary>
public static class CaReadiness
{
    public static async Task<IReadOnlyList<ReadinessCheck>> CheckAsync(IServiceProvider provider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        var services = provider.GetRequiredService<CaServices>();
        var store = await ReadinessCheck.ProbeAsync("store", token => StoreCheck.ProbeAsync(services.Database, token), cancellationToken);
        // The probe lists the token's keys through PKCS#11, which blocks: off the request thread.
        var hsm = await BlockingProbe.RunAsync(services.IssuancePool.Probe, cancellationToken);
        var clock = services.Clock.Current;
        return
        [
            store,
            hsm is null ? new ReadinessCheck("hsm", false, "the token did not answer in time")
            : hsm.Status == HsmHealthStatus.Healthy && services.HsmWatch.Ok ? new ReadinessCheck("hsm", true)
            : new ReadinessCheck("hsm", false, hsm.LastError ?? services.HsmWatch.Health.Reason ?? hsm.Status.ToString().ToLowerInvariant()),
            clock.MaySign ? new ReadinessCheck("clock", true) : new ReadinessCheck("clock", false, clock.Reason),
        ];
    }
}
