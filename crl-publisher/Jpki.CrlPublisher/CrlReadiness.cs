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
/// <remarks>
/// A municipality series that no publisher has published yet (its first certificate was issued
/// after the last run; the next delta run gives it a complete CRL) does not count: every instance
/// lacks it alike, so counting it took every instance out of the load balancer at once and made
/// every CRL unreachable until the schedule fired. It is named in the answer as a caveat. A series
/// whose complete CRL the store records but this instance cannot serve still counts. docs/decisions/0531.
/// </remarks>
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

        // The series are read from the store with blocking queries: off the request thread.
        var missing = await BlockingProbe.RunAsync(() => Missing(services), cancellationToken);
        return
        [
            store,
            missing is null ? new ReadinessCheck("crls", false, "the series were not read in time")
            : missing.Published.Count > 0 ? new ReadinessCheck("crls", false, $"{missing.Published.Count} series have no complete CRL to serve, first {missing.Published[0]}")
            : missing.Unpublished.Count > 0 ? new ReadinessCheck("crls", true, $"ok; {missing.Unpublished.Count} new municipality series not published by any instance yet (the next delta run publishes it), first {missing.Unpublished[0]}")
            : new ReadinessCheck("crls", true),
        ];
    }

    /// <summary>The series without a complete CRL on disk: those the store has published, and new municipality series it has not.</summary>
    private static MissingCrls Missing(CrlPublisherServices services)
    {
        var publisher = services.Publisher;
        var absent = publisher.AllSeries().Where(s => !File.Exists(publisher.PathOf(s, delta: false))).ToList();
        if (absent.Count == 0)
        {
            return new MissingCrls([], []);
        }

        using var db = services.Database.OpenConnection();
        var unpublished = absent.Where(s => s.Kind == CrlScopeKind.Municipality && CrlStore.Latest(db, null, s, "complete") is null).ToHashSet();
        return new MissingCrls(
            absent.Where(s => !unpublished.Contains(s)).Select(Name).ToList(),
            absent.Where(unpublished.Contains).Select(Name).ToList());
    }

    private static string Name(CrlSeries series) => series.IssuerKeyId + "/" + series.FileName(false);

    private sealed record MissingCrls(IReadOnlyList<string> Published, IReadOnlyList<string> Unpublished);
}
