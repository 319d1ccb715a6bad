using System.Diagnostics.Metrics;
using Jpki.Core.Revocation;

namespace Jpki.Ca;

/// <summary>
/// The feed's instruments (meter <c>Jpki.Ca</c>): entries by what became of them, revocations it
/// made, and how far the CA is behind the feed.
/// </summary>
public sealed class FeedMetrics
{
    private readonly Counter<long> entries;
    private readonly Counter<long> revocations;

    public FeedMetrics(IMeterFactory meters, FeedHealth health)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(health);
        var meter = meters.Create(IssuanceMetrics.MeterName);
        entries = meter.CreateCounter<long>("jpki.ca.feed.entries", description: "Juki-Net feed entries by outcome: applied, duplicate, quarantined");
        revocations = meter.CreateCounter<long>("jpki.ca.feed.revocations", description: "Certificates revoked or re-reasoned by Juki-Net events");
        meter.CreateObservableGauge("jpki.ca.feed.lag", () => health.Current.Lag, description: "Feed sequences not yet taken (newest in the feed minus the cursor)");
    }

    public void Record(FeedPageResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        entries.Add(result.Applied, new KeyValuePair<string, object?>("outcome", "applied"));
        entries.Add(result.Duplicates, new KeyValuePair<string, object?>("outcome", "duplicate"));
        entries.Add(result.Quarantined, new KeyValuePair<string, object?>("outcome", "quarantined"));
        revocations.Add(result.Revocations);
    }
}
