using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Jpki.Ca;

/// <summary>
/// The issuance instruments (meter <c>Jpki.Ca</c>), for OpenTelemetry or <c>dotnet-counters</c>:
/// requests by outcome (<c>issued</c> or the problem type) and their duration.
/// </summary>
public sealed class IssuanceMetrics
{
    public const string MeterName = "Jpki.Ca";

    private readonly Counter<long> requests;
    private readonly Histogram<double> duration;

    public IssuanceMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        requests = meter.CreateCounter<long>("jpki.ca.issuance.requests", description: "Certificate requests by outcome: issued, or the problem type");
        duration = meter.CreateHistogram<double>("jpki.ca.issuance.duration", unit: "s", description: "Time to answer a certificate request");
    }

    public void Record(IResult result, long startTimestamp)
    {
        var outcome = result switch
        {
            ProblemHttpResult problem => problem.ProblemDetails.Type ?? "problem",
            // A stored answer replayed, or the commit-time catch-up's 409: no ProblemHttpResult.
            IStatusCodeHttpResult { StatusCode: >= 400 and var status } => ProblemTypes.ForStatus(status),
            _ => "issued",
        };
        var tag = new KeyValuePair<string, object?>("outcome", outcome);
        requests.Add(1, tag);
        duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tag);
    }
}
