namespace Jpki.Ca;

/// <summary>
/// What the subscriber last saw, for <c>/healthz</c> and <c>GET /api/v1/feed</c>. Written by the
/// subscriber's one loop, read by requests: a lock keeps each snapshot whole.
/// </summary>
public sealed class FeedHealth
{
    private readonly Lock gate = new();
    private FeedHealthSnapshot current = new("starting", null, null, null, 0, 0, false, false);

    public FeedHealthSnapshot Current
    {
        get
        {
            lock (gate)
            {
                return current;
            }
        }
    }

    public void Update(Func<FeedHealthSnapshot, FeedHealthSnapshot> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        lock (gate)
        {
            current = change(current);
        }
    }
}

/// <summary>
/// <paramref name="State"/>: starting | following | stopped (an officer's switch) | failing |
/// disabled. <paramref name="OpenGapAlarms"/> and <paramref name="SilenceAlarm"/> degrade health.
/// </summary>
public sealed record FeedHealthSnapshot(
    string State,
    DateTimeOffset? LastPollOk,
    DateTimeOffset? LastFailure,
    string? LastError,
    long Cursor,
    long Lag,
    bool GapAlarm,
    bool SilenceAlarm)
{
    public bool Healthy => State is "following" or "disabled" && !GapAlarm && !SilenceAlarm;
}
