namespace Jpki.Core;

/// <summary>
/// Japan Standard Time as a fixed +09:00 offset. Japan has had no daylight saving time since
/// 1951, so no time-zone database is needed (and containers often lack one).
/// </summary>
public static class Jst
{
    public static readonly TimeSpan Offset = TimeSpan.FromHours(9);

    /// <summary>The instant as seen on a clock in Japan.</summary>
    public static DateTimeOffset ToJst(DateTimeOffset instant) => instant.ToOffset(Offset);

    /// <summary>The calendar date in Japan at <paramref name="instant"/>.</summary>
    public static DateOnly DateOf(DateTimeOffset instant) => DateOnly.FromDateTime(ToJst(instant).DateTime);

    /// <summary>00:00:00 JST of <paramref name="date"/>, expressed in UTC (15:00:00Z of the day before).</summary>
    public static DateTimeOffset StartOfDay(DateOnly date) =>
        new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), Offset).ToUniversalTime();

    /// <summary>23:59:59 JST of <paramref name="date"/>, expressed in UTC (14:59:59Z) — the JPKI notAfter.</summary>
    public static DateTimeOffset EndOfDay(DateOnly date) =>
        new DateTimeOffset(date.ToDateTime(new TimeOnly(23, 59, 59)), Offset).ToUniversalTime();

    /// <summary>Drops sub-second precision: X.509 UTCTime carries whole seconds only.</summary>
    public static DateTimeOffset TruncateToSeconds(DateTimeOffset instant)
    {
        var utc = instant.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
    }
}
