using System.Diagnostics.Metrics;

namespace Jpki.Ocsp;

/// <summary>
/// The responder's instruments (meter <c>Jpki.Ocsp</c>, beside <c>jpki.ocsp.refused_queries</c> of
/// <see cref="OcspRefusals"/>): answers by what they said, cache lookups by hit or miss, and the
/// signatures the responder keys made. Tags are statuses only, never a serial or a verifier.
/// </summary>
public sealed class OcspMetrics
{
    public const string MeterName = "Jpki.Ocsp";

    private readonly Counter<long> answers;
    private readonly Counter<long> cacheLookups;

    /// <param name="cache">Read when scraped (a function: the cache is made after the metrics it reports to).</param>
    public OcspMetrics(IMeterFactory meters, SignatureCounter signatures, Func<CachingSource> cache)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(signatures);
        ArgumentNullException.ThrowIfNull(cache);
        var meter = meters.Create(MeterName);
        answers = meter.CreateCounter<long>("jpki.ocsp.answers", description: "OCSP answers by status: good, revoked, unknown, or the error status (malformedRequest, unauthorized, tryLater, internalError)");
        cacheLookups = meter.CreateCounter<long>("jpki.ocsp.cache.lookups", description: "Answer cache lookups by result: hit (served as cached) or miss (signed now)");
        // Read from the counter every signer already increments, so nothing can sign uncounted.
        meter.CreateObservableCounter("jpki.ocsp.signatures", () => signatures.Count, description: "Signatures made by the responder keys (answers, cache refreshes, nonce answers)");
        meter.CreateObservableGauge("jpki.ocsp.cache.entries", () => cache().Count, description: "Signed answers held in the cache");
        meter.CreateObservableGauge("jpki.ocsp.cache.bytes", () => cache().Bytes, description: "Bytes of cached answers and their keys, counted against ocsp.cacheMegabytes");
        meter.CreateObservableGauge("jpki.ocsp.cache.budget", () => cache().BudgetBytes, description: "The answer cache's memory budget (ocsp.cacheMegabytes)");
        meter.CreateObservableCounter("jpki.ocsp.cache.evictions", () => cache().Evictions, description: "Cached answers evicted for room (least recently queried first)");
    }

    /// <param name="status">good, revoked, unknown, or the OCSP error status's name.</param>
    public void Answered(string status) => answers.Add(1, new KeyValuePair<string, object?>("status", status));

    public void CacheLookup(bool hit) => cacheLookups.Add(1, hit ? Hit : Miss);

    private static readonly KeyValuePair<string, object?> Hit = new("result", "hit");
    private static readonly KeyValuePair<string, object?> Miss = new("result", "miss");
}
