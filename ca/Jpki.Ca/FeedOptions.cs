namespace Jpki.Ca;

/// <summary>How the CA follows the Juki-Net change feed.</summary>
public sealed record FeedOptions
{
    /// <summary>Whether this process runs the subscriber (one per install is enough; more are safe).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>The wait between polls when the CA has caught up.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Events asked for per poll (the feed's limit).</summary>
    public int BatchSize { get; init; } = 500;

    /// <summary>The longest wait after failed polls (doubling from <see cref="PollInterval"/>).</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How often the oldest open gap is asked for again (<c>after = first - 1</c>): a late event
    /// handed to a process that died before committing it will not come again by itself.
    /// </summary>
    public TimeSpan GapRefetchInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A gap still open this long raises the alarm (health degraded + audit record).</summary>
    public TimeSpan GapAlarmAfter { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>No new event for this long raises the alarm: a prefecture's feed is never this quiet.</summary>
    public TimeSpan SilenceAlarmAfter { get; init; } = TimeSpan.FromHours(2);
}
