using Jpki.Core.Store;
using Jpki.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Jpki.CrlPublisher;

/// <summary>
/// <c>GET /readyz</c> of the CRL publisher: it can serve every series now — the store answers and
/// each series has a complete CRL on disk to hand out. The HSM and the clock are left out: a
/// published CRL stays valid for hours without them and another instance may publish, so they
/// stay in <c>/healthz</c> (stale, degraded) instead of taking the instance out. docs/decisions/0501.
/// </summary>
public static class CrlReadiness
{
    public static async Task<IReadOnlyList<ReadinessCheck>> CheckAsync(IServiceProvider provider, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        var services = provider.GetRequiredService<CrlPublisherServices>();
        var store = await ReadinessCheck.ProbeAsync("store", token => StoreCheck.ProbeAsync(services.Database, token), cancellationToken);
        if (!store.Ready)
        {
            return [store, new ReadinessCheck("crls", false, "not checked: the series are read from the store")];
        }

        // The series are read from the store with a blocking query: off the request thread.
        var missing = await BlockingProbe.RunAsync(
            () => services.Publisher.AllSeries().Where(s => !File.Exists(services.Publisher.PathOf(s, delta: false))).Select(s => s.IssuerKeyId + "/" + s.FileName(false)).ToList(),
            cancellationToken);
        return
        [
            store,
            missing is null ? new ReadinessCheck("crls", false, "the series were not read in time")
            : missing.Count == 0 ? new ReadinessCheck("crls", true)
            : new ReadinessCheck("crls", false, $"{missing.Count} series have no complete CRL to serve, first {missing[0]}"),
        ];
    }
}
