namespace Jpki.Core.Configuration;

/// <summary>
/// The <c>clock</c> section: how far the machine's clock may be from true time before the CA and
/// the CRL publisher stop signing, and how often the synchronisation daemon (chrony, or
/// systemd-timesyncd) is asked (docs/clock.md).
/// </summary>
public sealed record ClockSettings
{
    /// <summary>
    /// The largest error of the clock under which certificates and CRLs are signed: chrony's bound
    /// (|system time| + root dispersion + root delay / 2), or timesyncd's |offset| + root distance.
    /// </summary>
    public int MaxOffsetMilliseconds { get; init; } = 1000;

    /// <summary>How often the status is read (one <c>chronyc</c> or <c>timedatectl</c> run); signatures use the cached answer.</summary>
    public int CheckEverySeconds { get; init; } = 30;

    /// <summary>The chrony client (run as <c>chronyc -c tracking</c>); a bare name is looked up on PATH.</summary>
    public string Chronyc { get; init; } = "chronyc";

    /// <summary>systemd's <c>timedatectl</c> (run as <c>timedatectl timesync-status</c> and <c>timedatectl show -p NTPSynchronized</c>).</summary>
    public string Timedatectl { get; init; } = "timedatectl";

    public TimeSpan MaxOffset => TimeSpan.FromMilliseconds(MaxOffsetMilliseconds);

    public TimeSpan CheckEvery => TimeSpan.FromSeconds(CheckEverySeconds);

    internal void Validate(string path)
    {
        if (MaxOffsetMilliseconds is < 1 or > 60_000 || CheckEverySeconds is < 1 or > 3600 || string.IsNullOrWhiteSpace(Chronyc) || string.IsNullOrWhiteSpace(Timedatectl))
        {
            throw new InvalidDataException($"{path}: clock settings out of range (maxOffsetMilliseconds 1–60000, checkEverySeconds 1–3600, chronyc and timedatectl set)");
        }
    }
}
