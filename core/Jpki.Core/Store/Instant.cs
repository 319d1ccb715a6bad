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

    private const string DateFormat = "yyyy-MM-dd";

    /// <summary>Microseconds since 1970-01-01T00:00:00Z; sub-microsecond ticks are dropped.</summary>
    public static long ToMicros(DateTimeOffset instant) =>
        (instant.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;

    public static DateTimeOffset FromMicros(long micros) =>
        DateTimeOffset.UnixEpoch.AddTicks(micros * TimeSpan.TicksPerMicrosecond);

    /// <summary>The current instant in microseconds, read from the injected clock.</summary>
    public static long NowMicros(TimeProvider time) => ToMicros(time.GetUtcNow());

    public static string ToDateText(DateOnly date) => date.ToString(DateFormat, CultureInfo.InvariantCulture);

    public static DateOnly ParseDateText(string text) =>
        DateOnly.ParseExact(text, DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.None);
}
