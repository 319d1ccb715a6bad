using System.Globalization;

namespace Jpki.Core.Store;

/// <summary>
/// Conversions between clock values and the store's representations: instants are integer
/// UTC microseconds since the Unix epoch (the same in SQLite and PostgreSQL, exact in canonical
/// JSON), calendar dates are 'YYYY-MM-DD' text, and Japan Standard Time is a fixed +09:00 so no
/// time-zone database is needed.
/// </summary>
public static class Instant
{
    /// <summary>JST has had no daylight saving since 1951; a fixed offset is exact for the CA's lifetime.</summary>
    public static readonly TimeSpan JstOffset = TimeSpan.FromHours(9);

    private const string DateFormat = "yyyy-MM-dd";

    /// <summary>Microseconds since 1970-01-01T00:00:00Z; sub-microsecond ticks are dropped.</summary>
    public static long ToMicros(DateTimeOffset instant) =>
        (instant.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;

    public static DateTimeOffset FromMicros(long micros) =>
        DateTimeOffset.UnixEpoch.AddTicks(micros * TimeSpan.TicksPerMicrosecond);

    /// <summary>The current instant in microseconds, read from the injected clock.</summary>
    public static long NowMicros(TimeProvider time) => ToMicros(time.GetUtcNow());

    public static DateTimeOffset ToJst(DateTimeOffset instant) => instant.ToOffset(JstOffset);

    /// <summary>The calendar date in Japan at <paramref name="instant"/> (not the machine's UTC date).</summary>
    public static DateOnly JstDate(DateTimeOffset instant) => DateOnly.FromDateTime(ToJst(instant).DateTime);

    public static string ToDateText(DateOnly date) => date.ToString(DateFormat, CultureInfo.InvariantCulture);

    public static DateOnly ParseDateText(string text) =>
        DateOnly.ParseExact(text, DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.None);
}
