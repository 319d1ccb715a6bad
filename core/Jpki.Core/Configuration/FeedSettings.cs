namespace Jpki.Core.Configuration;

/// <summary>The <c>feed</c> section: how the CA follows the Juki-Net change feed, and its alarms.</summary>
public sealed record FeedSettings
{
    public bool Enabled { get; init; } = true;

    public int PollIntervalMs { get; init; } = 1000;

    public int BatchSize { get; init; } = 500;

    /// <summary>How often the oldest open gap is asked for again.</summary>
    public int GapRefetchSeconds { get; init; } = 5;

    /// <summary>A gap open this long raises the alarm.</summary>
    public int GapAlarmMinutes { get; init; } = 10;

    /// <summary>No new event for this long raises the alarm.</summary>
    public int SilenceAlarmMinutes { get; init; } = 120;
}
