using System.Globalization;
using System.Text.Json.Serialization;

namespace Jpki.JukiNet.Simulator;

/// <summary>How an outage shows itself to a caller.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<OutageKind>))]
public enum OutageKind
{
    /// <summary>503 problem+json with <c>Retry-After: 1</c>.</summary>
    Unavailable,

    /// <summary>The connection is dropped without an answer.</summary>
    Abort,
}

/// <summary>
/// The fault switches of the simulated feed and lookup (issue 5): the body of
/// <c>PUT /api/v1/faults</c> and the <c>--fault-*</c> command-line options. Every member is
/// optional; a missing one is off (or its default). Rates are fractions 0–1, chosen per event
/// sequence (or per page) by a hash of <see cref="Seed"/>, so the same seed and the same requests
/// give the same answers. Faults change only what is served, never the stored registry.
/// </summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record FaultSettings
{
    public const int MaxSlowMs = 30_000;
    public const int MaxWindowMs = 600_000;
    public const int MaxOutageRequests = 10_000;
    public const int MaxLateReleaseAfterPolls = 1_000;

    /// <summary>No fault at all: the feed and the lookup answer as the contract says.</summary>
    public static FaultSettings Off { get; } = new();

    public int Seed { get; init; } = 1;

    /// <summary>Share of events sent twice in their page; also the share of pages that repeat the events just before <c>after</c>.</summary>
    public double Duplicates { get; init; }

    /// <summary>Share of events withheld from the page they belong in and delivered in a later one (then with sequence ≤ after).</summary>
    public double Late { get; init; }

    /// <summary>A withheld event is delivered in the feed answer this many answers later at the latest.</summary>
    public int LateReleaseAfterPolls { get; init; } = 3;

    /// <summary>…or in the first feed answer once this many milliseconds have passed, whichever comes first.</summary>
    public int LateReleaseAfterMs { get; init; } = 10_000;

    /// <summary>Share of pages whose events are shuffled (a page of two or more events is then never in sequence order).</summary>
    public double Reorder { get; init; }

    /// <summary>Share of events corrupted on the wire (unknown type, missing value, bad date, non-object entry, wrong check digit).</summary>
    public double Malformed { get; init; }

    /// <summary>Share of events whose resident code is replaced by a valid-looking code the registry does not hold.</summary>
    public double UnknownResidents { get; init; }

    /// <summary>The next this many feed or lookup requests fail (see <see cref="Outage"/>).</summary>
    public int OutageRequests { get; init; }

    /// <summary>Feed and lookup requests fail for this many milliseconds from when the faults are set.</summary>
    public int OutageMs { get; init; }

    public OutageKind Outage { get; init; } = OutageKind.Unavailable;

    /// <summary>Feed and lookup answers are delayed by this many milliseconds.</summary>
    public int SlowMs { get; init; }

    /// <summary>Whether any switch rewrites the served pages (as opposed to failing or delaying requests).</summary>
    [JsonIgnore]
    public bool RewritesPages => Duplicates > 0 || Late > 0 || Reorder > 0 || Malformed > 0 || UnknownResidents > 0;

    /// <summary>Null when every value is in range, else what is wrong.</summary>
    public string? Check()
    {
        foreach (var (name, rate) in new[]
        {
            ("duplicates", Duplicates), ("late", Late), ("reorder", Reorder), ("malformed", Malformed), ("unknownResidents", UnknownResidents),
        })
        {
            if (double.IsNaN(rate) || rate is < 0 or > 1)
            {
                return $"{name} must be a fraction from 0 to 1";
            }
        }

        if (LateReleaseAfterPolls is < 1 or > MaxLateReleaseAfterPolls)
        {
            return $"lateReleaseAfterPolls must be 1-{MaxLateReleaseAfterPolls}";
        }

        if (LateReleaseAfterMs is < 1 or > MaxWindowMs)
        {
            return $"lateReleaseAfterMs must be 1-{MaxWindowMs}";
        }

        if (OutageRequests is < 0 or > MaxOutageRequests)
        {
            return $"outageRequests must be 0-{MaxOutageRequests}";
        }

        if (OutageMs is < 0 or > MaxWindowMs)
        {
            return $"outageMs must be 0-{MaxWindowMs}";
        }

        if (!Enum.IsDefined(Outage))
        {
            return "outage must be unavailable or abort";
        }

        if (SlowMs is < 0 or > MaxSlowMs)
        {
            return $"slowMs must be 0-{MaxSlowMs}";
        }

        return null;
    }

    /// <summary>
    /// These settings with one <c>--fault-*</c> option applied, or null if <paramref name="name"/>
    /// is not one. Throws <see cref="ArgumentException"/> naming the option when the value does not parse.
    /// </summary>
    public FaultSettings? WithOption(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        return name switch
        {
            "--fault-seed" => this with { Seed = ParseInt(name, value) },
            "--fault-duplicates" => this with { Duplicates = ParseRate(name, value) },
            "--fault-late" => this with { Late = ParseRate(name, value) },
            "--fault-late-release-polls" => this with { LateReleaseAfterPolls = ParseInt(name, value) },
            "--fault-late-release-ms" => this with { LateReleaseAfterMs = ParseInt(name, value) },
            "--fault-reorder" => this with { Reorder = ParseRate(name, value) },
            "--fault-malformed" => this with { Malformed = ParseRate(name, value) },
            "--fault-unknown-residents" => this with { UnknownResidents = ParseRate(name, value) },
            "--fault-outage-requests" => this with { OutageRequests = ParseInt(name, value) },
            "--fault-outage-ms" => this with { OutageMs = ParseInt(name, value) },
            "--fault-outage" => this with
            {
                Outage = value switch
                {
                    "unavailable" => OutageKind.Unavailable,
                    "abort" => OutageKind.Abort,
                    _ => throw new ArgumentException($"{name} must be unavailable or abort"),
                },
            },
            "--fault-slow-ms" => this with { SlowMs = ParseInt(name, value) },
            _ => null,
        };
    }

    private static int ParseInt(string name, string value) =>
        int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number)
            ? number
            : throw new ArgumentException($"{name} needs an integer");

    private static double ParseRate(string name, string value) =>
        double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var rate)
            ? rate
            : throw new ArgumentException($"{name} needs a fraction from 0 to 1");
}
