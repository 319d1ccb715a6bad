using System.Globalization;

namespace Jpki.Core.Clock;

/// <summary>
/// Reads the output of <c>chronyc -c tracking</c>: one CSV line of the fields that
/// <c>chronyc tracking</c> prints (chronyc(1), "tracking"), in this order (chrony's client.c,
/// process_cmd_tracking and print_report in CSV mode): reference ID (hex), reference name or
/// address, stratum, ref time (seconds since the epoch), system time (the correction still to
/// apply, seconds, positive = the clock is slow), last offset, RMS offset, frequency, residual
/// frequency, skew, root delay, root dispersion, update interval, leap status (<c>Normal</c>,
/// <c>Insert second</c>, <c>Delete second</c>, <c>Not synchronised</c>).
/// </summary>
public static class ChronyTracking
{
    public const string Source = "chrony";

    private const int Fields = 14;

    /// <summary>
    /// The reading: synchronised unless the leap status is <c>Not synchronised</c> (chrony's state
    /// before its first update, or after losing every source for too long), and as offset the
    /// absolute bound chronyc(1) gives for the clock's error: |system time| + root dispersion +
    /// root delay / 2.
    /// </summary>
    public static ClockSyncReading Parse(string output, DateTimeOffset readAt)
    {
        ArgumentNullException.ThrowIfNull(output);
        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "";
        var fields = line.Split(',');
        if (fields.Length < Fields
            || !TryNumber(fields[4], out var systemTime)
            || !TryNumber(fields[10], out var rootDelay)
            || !TryNumber(fields[11], out var rootDispersion))
        {
            return ClockSyncReading.NotReadable(Source, "chronyc -c tracking printed something other than the 14 tracking fields", readAt);
        }

        var leap = fields[13].Trim();
        var synchronised = !leap.Equals("Not synchronised", StringComparison.OrdinalIgnoreCase);
        var bound = Math.Abs(systemTime) + rootDispersion + (rootDelay / 2);
        var server = fields[1].Trim();
        return new ClockSyncReading(Source, synchronised, TimeSpan.FromSeconds(bound), server.Length > 0 ? server : null, readAt);
    }

    private static bool TryNumber(string text, out double value) =>
        double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);
}
