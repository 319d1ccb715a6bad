using System.Globalization;
using System.Text.RegularExpressions;

namespace Jpki.Core.Clock;

/// <summary>
/// Reads systemd-timesyncd's status from <c>timedatectl timesync-status</c> (a table of
/// <c>Name: value</c> lines: Server, Poll interval, Leap, Version, Stratum, Reference, Precision,
/// Root distance, Offset, Delay, Jitter, Packet count, Frequency; before the first exchange only
/// Server, Poll interval and <c>Packet count: 0</c>) and <c>timedatectl show -p NTPSynchronized</c>
/// (<c>NTPSynchronized=yes|no</c>, the kernel's flag). Spans are systemd's timespans
/// (<c>+1.204ms</c>, <c>-2min 3.5s</c>, <c>250us</c>). Format: timedatectl(1) and systemd's
/// src/timedate/timedatectl.c (print_ntp_status_info).
/// </summary>
public static partial class TimesyncStatus
{
    public const string Source = "timesyncd";

    /// <summary>
    /// Synchronised when the kernel says so, timesyncd has had an answer (packet count above 0) and
    /// the leap indicator is not <c>not synchronized</c>; the offset is |offset| + root distance
    /// (root delay / 2 + root dispersion), the same bound as chrony's.
    /// </summary>
    public static ClockSyncReading Parse(string timesyncStatus, string ntpSynchronized, DateTimeOffset readAt)
    {
        ArgumentNullException.ThrowIfNull(timesyncStatus);
        ArgumentNullException.ThrowIfNull(ntpSynchronized);
        var fields = Fields(timesyncStatus);
        var kernel = Fields(ntpSynchronized.Replace('=', ':')).GetValueOrDefault("NTPSynchronized");
        if (kernel is not ("yes" or "no") || !fields.TryGetValue("Packet count", out var packets) || !long.TryParse(packets, CultureInfo.InvariantCulture, out var packetCount))
        {
            return ClockSyncReading.NotReadable(Source, "timedatectl printed no timesyncd status (Packet count, NTPSynchronized)", readAt);
        }

        var server = fields.GetValueOrDefault("Server");
        if (packetCount == 0)
        {
            return new ClockSyncReading(Source, false, null, server, readAt);
        }

        TimeSpan? offset = fields.TryGetValue("Offset", out var o) && ParseSpan(o) is { } measured
            && fields.TryGetValue("Root distance", out var r) && ParseSpan(r.Split('(')[0]) is { } distance
            ? measured.Duration() + distance
            : null;
        var leapUnsynchronised = fields.GetValueOrDefault("Leap")?.StartsWith("not synchron", StringComparison.OrdinalIgnoreCase) ?? false;
        return new ClockSyncReading(Source, kernel == "yes" && !leapUnsynchronised, offset, server, readAt);
    }

    /// <summary>A systemd timespan with an optional sign (<c>-1min 2.5s</c>, <c>+350us</c>, <c>0</c>); null when not one.</summary>
    public static TimeSpan? ParseSpan(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var negative = trimmed.StartsWith('-');
        trimmed = trimmed.TrimStart('+', '-');
        if (trimmed == "0")
        {
            return TimeSpan.Zero;
        }

        double microseconds = 0;
        var parts = trimmed.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var part in parts)
        {
            var match = SpanPart().Match(part);
            if (!match.Success)
            {
                return null;
            }

            microseconds += double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) * UnitMicroseconds(match.Groups[2].Value);
        }

        return parts.Length == 0 ? null : TimeSpan.FromMicroseconds(negative ? -microseconds : microseconds);
    }

    private static double UnitMicroseconds(string unit) => unit switch
    {
        "ns" => 0.001,
        "us" or "µs" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "min" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        _ => 604_800_000_000, // w
    };

    private static Dictionary<string, string> Fields(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                fields.TryAdd(line[..colon].Trim(), line[(colon + 1)..].Trim());
            }
        }

        return fields;
    }

    [GeneratedRegex(@"^([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|min|h|d|w)$")]
    private static partial Regex SpanPart();
}
