using System.Diagnostics.Metrics;

namespace Jpki.Verifier.Service;

/// <summary>
/// The verification service's instruments (meter <c>Jpki.Verifier</c>): verifications by type and
/// verdict (<c>valid</c> or the failure reason), their duration, refused callers and requests the
/// service could not verify, and the OCSP answer cache. Tags name kinds and reasons only, never a
/// resident, a certificate or a caller.
/// </summary>
public sealed class VerifyServiceMetrics
{
    public const string MeterName = "Jpki.Verifier";

    private readonly Counter<long> verifications;
    private readonly Histogram<double> duration;
    private readonly Counter<long> refused;

    public VerifyServiceMetrics(IMeterFactory meters, OcspAnswerCache cache)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(cache);
        var meter = meters.Create(MeterName);
        verifications = meter.CreateCounter<long>("jpki.verifier.verifications", description: "Verifications answered (HTTP 200) by type (cms, xml, auth) and verdict (valid, or the failure reason)");
        duration = meter.CreateHistogram<double>("jpki.verifier.verification.duration", unit: "s", description: "Time to verify one request, OCSP query included");
        refused = meter.CreateCounter<long>("jpki.verifier.refused", description: "Requests not verified by reason: unauthenticated (401) or invalid-request (400)");
        meter.CreateObservableCounter("jpki.verifier.ocsp.queries", () => cache.Queries, description: "OCSP queries sent to the responder through the answer cache");
        meter.CreateObservableCounter("jpki.verifier.ocsp.cache.hits", () => cache.Hits, description: "Verifications answered from a kept OCSP answer (or one in flight)");
        meter.CreateObservableGauge("jpki.verifier.ocsp.cache.entries", () => cache.Count, description: "OCSP answers kept until their nextUpdate");
    }

    /// <param name="failure">The first failure's reason; null for a valid signature or login.</param>
    public void Verified(string type, string? failure, TimeSpan elapsed)
    {
        verifications.Add(1, new KeyValuePair<string, object?>("type", type), new KeyValuePair<string, object?>("verdict", failure ?? "valid"));
        duration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("type", type));
    }

    public void Refused() => refused.Add(1, new KeyValuePair<string, object?>("reason", "unauthenticated"));

    public void Invalid() => refused.Add(1, new KeyValuePair<string, object?>("reason", "invalid-request"));
}
