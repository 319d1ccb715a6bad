using Jpki.Core.Clock;

namespace Jpki.CrlPublisher;

/// <summary>How CRLs are dated and where they go.</summary>
public sealed record CrlPublisherOptions
{
    public required string Directory { get; init; }

    /// <summary>Where every published CRL is kept by number: <c>{ArchiveDirectory}/{issuerKeyId}/{scope}/{number}.crl</c>.</summary>
    public required string ArchiveDirectory { get; init; }

    /// <summary>Public base of the CRL URLs (freshestCRL points into it).</summary>
    public required string CrlBase { get; init; }

    public TimeSpan CompleteValidity { get; init; } = TimeSpan.FromHours(48);

    public TimeSpan DeltaValidity { get; init; } = TimeSpan.FromHours(1);

    public TimeSpan Backdate { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Called with the written temporary file before the check (tests use it to damage one).</summary>
    public Action<string>? AfterWrite { get; init; }

    /// <summary>Told of every publication attempt, published, skipped or failed (the service's metrics).</summary>
    public Action<CrlBuildOutcome>? Built { get; init; }

    /// <summary>The clock check every publication passes before a number is taken (null: none, e.g. tools that only read).</summary>
    public ClockGuard? Clock { get; init; }
}
