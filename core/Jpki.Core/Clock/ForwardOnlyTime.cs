using Jpki.Core.Store;

namespace Jpki.Core.Clock;

/// <summary>
/// The issuance clock: never earlier than an instant it already gave, nor than the newest notBefore
/// of an end-entity certificate in the store when it was made. A wall clock stepped back (an NTP
/// step after it ran fast, a minute at most while the clock check still passes) would otherwise
/// issue certificates whose notBefore goes back; this one stands still until the wall clock has
/// caught up, for at most <see cref="MaxHold"/>: an instant further ahead of the wall clock is a
/// past clock error (a certificate issued with a wrong clock), not a step, and is not followed.
/// (docs/decisions/0253-issuance-and-crl-times-never-go-back.md). Timers and timestamps are the
/// wrapped provider's.
/// </summary>
public sealed class ForwardOnlyTime : TimeProvider
{
    /// <summary>The largest step back absorbed: the CRL backdate's default, five times the minute.</summary>
    public static readonly TimeSpan MaxHold = TimeSpan.FromMinutes(5);

    private readonly TimeProvider inner;
    private long lastTicks;

    public ForwardOnlyTime(TimeProvider inner, DateTimeOffset floor)
    {
        ArgumentNullException.ThrowIfNull(inner);
        this.inner = inner;
        lastTicks = floor.UtcTicks;
    }

    /// <summary>Starts at the newest notBefore of a signing or authentication certificate in the store (one read).</summary>
    public static ForwardOnlyTime FromStore(TimeProvider inner, Database database)
    {
        ArgumentNullException.ThrowIfNull(database);
        using var db = database.OpenConnection();
        var newest = Dapper.SqlMapper.ExecuteScalar<long?>(db, "SELECT MAX(not_before_us) FROM certificates WHERE kind IN ('signing', 'authentication')");
        return new ForwardOnlyTime(inner, newest is { } us ? Instant.FromMicros(us) : DateTimeOffset.MinValue);
    }

    public override TimeZoneInfo LocalTimeZone => inner.LocalTimeZone;

    public override long TimestampFrequency => inner.TimestampFrequency;

    public override DateTimeOffset GetUtcNow()
    {
        var now = inner.GetUtcNow().UtcTicks;
        var seen = Interlocked.Read(ref lastTicks);
        while (now > seen)
        {
            var before = Interlocked.CompareExchange(ref lastTicks, now, seen);
            if (before == seen)
            {
                return new DateTimeOffset(now, TimeSpan.Zero);
            }

            seen = before;
        }

        return new DateTimeOffset(seen - now <= MaxHold.Ticks ? seen : now, TimeSpan.Zero);
    }

    public override long GetTimestamp() => inner.GetTimestamp();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        inner.CreateTimer(callback, state, dueTime, period);
}
