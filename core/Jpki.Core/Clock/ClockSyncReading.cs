namespace Jpki.Core.Clock;

/// <summary>
/// Where the machine's clock stands, as a synchronisation daemon reported it once.
/// <see cref="Synchronised"/> is null and <see cref="Unreadable"/> says why when no daemon could
/// be asked (none installed, none running, no permission, output not understood).
/// </summary>
/// <param name="Source">Who answered: <c>chrony</c>, <c>timesyncd</c>, or <c>none</c>.</param>
/// <param name="Synchronised">Whether the daemon says the clock is synchronised; null when unreadable.</param>
/// <param name="Offset">
/// The largest error the daemon allows the clock to have (chrony: |system time| + root dispersion
/// + root delay / 2; timesyncd: |offset| + root distance); null when unknown.
/// </param>
/// <param name="Server">The reference the daemon follows (name or address), when it says.</param>
/// <param name="ReadAt">When it was read (the service's <see cref="TimeProvider"/>).</param>
/// <param name="Unreadable">Why no daemon could be read; null when one was.</param>
public sealed record ClockSyncReading(string Source, bool? Synchronised, TimeSpan? Offset, string? Server, DateTimeOffset ReadAt, string? Unreadable = null)
{
    public const string None = "none";

    public bool IsReadable => Unreadable is null;

    /// <summary>No daemon could be read, for <paramref name="reason"/>.</summary>
    public static ClockSyncReading NotReadable(string source, string reason, DateTimeOffset readAt) =>
        new(source, null, null, null, readAt, reason);
}

/// <summary>
/// Reads the clock's synchronisation status: the system's daemons in a service
/// (<see cref="SystemClockSyncSource"/>), a fake in tests. Called once per
/// <c>clock.checkEverySeconds</c> by <see cref="ClockGuard"/>, never per signature.
/// </summary>
public interface IClockSyncSource
{
    /// <summary>Never throws for a missing or failing daemon: that is an unreadable reading.</summary>
    ClockSyncReading Read();
}
