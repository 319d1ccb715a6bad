using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Jpki.CrlPublisher;

/// <summary>What became of one attempt to publish a CRL of a series.</summary>
/// <param name="Outcome"><c>published</c>, <c>skipped</c> (a delta with no complete CRL to refer to yet) or <c>failed</c>.</param>
public sealed record CrlBuildOutcome(CrlSeries Series, bool Delta, string Outcome, PublishedCrl? Crl);

/// <summary>
/// The publisher's instruments (meter <c>Jpki.CrlPublisher</c>): builds by outcome, and the size
/// and entry count of each CRL published. Tagged by issuer key, scope kind (full, arl,
/// municipality: never the municipality code, so the series count stays small) and complete or delta.
/// </summary>
public sealed class CrlMetrics
{
    public const string MeterName = "Jpki.CrlPublisher";

    private readonly Counter<long> builds;
    private readonly Histogram<long> sizes;
    private readonly Histogram<long> entries;

    public CrlMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        builds = meter.CreateCounter<long>("jpki.crl.builds", description: "CRL builds by outcome: published, skipped, failed");
        sizes = meter.CreateHistogram<long>(
            "jpki.crl.size",
            unit: "By",
            description: "Size of each published CRL",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000] });
        entries = meter.CreateHistogram<long>(
            "jpki.crl.entries",
            description: "Revoked certificates listed by each published CRL",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [0, 10, 100, 1_000, 10_000, 100_000, 1_000_000] });
    }

    public void Record(CrlBuildOutcome build)
    {
        ArgumentNullException.ThrowIfNull(build);
        var tags = new TagList
        {
            { "issuer_key", build.Series.IssuerKeyId },
            { "scope", build.Series.Kind switch { CrlScopeKind.Full => "full", CrlScopeKind.Arl => "arl", _ => "municipality" } },
            { "kind", build.Delta ? "delta" : "complete" },
        };
        var outcome = tags;
        outcome.Add("outcome", build.Outcome);
        builds.Add(1, outcome);
        if (build.Crl is { } crl)
        {
            sizes.Record(crl.SizeBytes, tags);
            entries.Record(crl.EntryCount, tags);
        }
    }
}
