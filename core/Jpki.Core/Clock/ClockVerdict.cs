namespace Jpki.Core.Clock;

/// <summary>What a clock reading means for signing.</summary>
public enum ClockState
{
    /// <summary>Synchronised, within <c>clock.maxOffsetMilliseconds</c>.</summary>
    Synchronised,

    /// <summary>The daemon's error bound is over <c>clock.maxOffsetMilliseconds</c>.</summary>
    OffsetOutOfBounds,

    /// <summary>The daemon says the clock is not synchronised.</summary>
    Unsynchronised,

    /// <summary>No daemon could be read (or it gave no offset): a demo install warns, a production install refuses.</summary>
    NoSource,
}

/// <summary>
/// The clock check's answer: whether this service may sign now, and why. <see cref="Warning"/>:
/// signing continues but /healthz is degraded (no source on a demonstration install).
/// </summary>
public sealed record ClockVerdict(ClockState State, bool MaySign, bool Warning, string Reason, string InstallMode, ClockSyncReading Reading, TimeSpan MaxOffset)
{
    /// <summary><c>ok</c>, <c>warning</c> or <c>refusing</c>.</summary>
    public string Status => !MaySign ? "refusing" : Warning ? "warning" : "ok";

    /// <summary><c>synchronised</c>, <c>offset-out-of-bounds</c>, <c>unsynchronised</c>, <c>no-source</c>.</summary>
    public string StateName => State switch
    {
        ClockState.Synchronised => "synchronised",
        ClockState.OffsetOutOfBounds => "offset-out-of-bounds",
        ClockState.Unsynchronised => "unsynchronised",
        _ => "no-source",
    };

    public double? OffsetMilliseconds => Reading.Offset is { } offset ? Math.Round(offset.TotalMilliseconds, 3) : null;

    /// <summary>The <c>clock</c> object of a service's /healthz.</summary>
    public ClockHealth Health() => new(Status, StateName, Reason, Reading.Source, Reading.Server, Reading.Synchronised, OffsetMilliseconds, MaxOffset.TotalMilliseconds, Reading.ReadAt, InstallMode);

    /// <summary>What a reading means under <paramref name="maxOffset"/> on an install of <paramref name="installMode"/>.</summary>
    public static ClockVerdict Of(ClockSyncReading reading, string installMode, TimeSpan maxOffset)
    {
        ArgumentNullException.ThrowIfNull(reading);
        var production = installMode == Accounts.InstallMode.Production;
        if (!reading.IsReadable || reading is { Synchronised: true, Offset: null })
        {
            var why = reading.Unreadable ?? $"{reading.Source} gave no offset";
            return production
                ? new(ClockState.NoSource, false, false, $"no clock synchronisation source can be read ({why}); a production install signs nothing until one can", installMode, reading, maxOffset)
                : new(ClockState.NoSource, true, true, $"no clock synchronisation source can be read ({why}); a demonstration install signs anyway", installMode, reading, maxOffset);
        }

        if (reading.Synchronised != true)
        {
            return new(ClockState.Unsynchronised, false, false, $"{reading.Source} says the clock is not synchronised", installMode, reading, maxOffset);
        }

        return reading.Offset > maxOffset
            ? new(ClockState.OffsetOutOfBounds, false, false, $"{reading.Source} bounds the clock's error at {reading.Offset.Value.TotalMilliseconds:0.###} ms, over the {maxOffset.TotalMilliseconds:0} ms allowed", installMode, reading, maxOffset)
            : new(ClockState.Synchronised, true, false, $"synchronised by {reading.Source} within {reading.Offset!.Value.TotalMilliseconds:0.###} ms", installMode, reading, maxOffset);
    }
}

/// <summary>The clock check refused a signature (a typed error: the caller skips and retries, nothing was signed).</summary>
public sealed class ClockUnsynchronisedException(ClockVerdict verdict)
    : Exception($"the clock check refuses to sign: {verdict?.Reason}")
{
    public ClockVerdict Verdict { get; } = verdict ?? throw new ArgumentNullException(nameof(verdict));
}

/// <summary>The <c>clock</c> object of a service's /healthz, a named type so that its OpenAPI schema is this.</summary>
public sealed record ClockHealth(
    string Status,
    string State,
    string Reason,
    string Source,
    string? Server,
    bool? Synchronised,
    double? OffsetMilliseconds,
    double MaxOffsetMilliseconds,
    DateTimeOffset ReadAt,
    string InstallMode);
