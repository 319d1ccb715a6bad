using System.Globalization;
using System.Net;
using System.Text;
using Jpki.Core.Audit;

namespace Jpki.Ca.Auditing;

/// <summary>
/// Server-rendered inline SVG charts for the auditor pages (no script, no library): revocations per
/// JST day stacked by cause, and the feed lag percentiles per day. Every text is HTML-encoded.
/// </summary>
public static class SvgCharts
{
    private const int Width = 760;
    private const int Height = 260;
    private const int Left = 56;
    private const int Right = 180;
    private const int Top = 16;
    private const int Bottom = 40;

    private static readonly string[] Palette =
        ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];

    /// <summary>One bar per day from..to, one coloured segment per cause, a legend on the right.</summary>
    public static string RevocationsPerDay(DateOnly from, DateOnly to, IReadOnlyList<DailyCauseCount> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var days = Days(from, to);
        var causes = counts.Select(c => c.Cause).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var byDay = counts.GroupBy(c => c.Date).ToDictionary(g => g.Key, g => g.ToList());
        var max = Math.Max(1, byDay.Values.Select(v => v.Sum(c => c.Count)).DefaultIfEmpty(0).Max());
        var svg = Open("revocations-per-day", "失効件数（日別・事由別） Revocations per day by cause");
        Axes(svg, max.ToString(CultureInfo.InvariantCulture));
        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        var slot = plotWidth / (double)days.Count;
        for (var i = 0; i < days.Count; i++)
        {
            var y = (double)(Top + plotHeight);
            if (byDay.TryGetValue(days[i], out var dayCounts))
            {
                foreach (var c in dayCounts.OrderBy(c => c.Cause, StringComparer.Ordinal))
                {
                    var h = c.Count / (double)max * plotHeight;
                    y -= h;
                    svg.Append(CultureInfo.InvariantCulture, $"<rect class=\"bar\" x=\"{F(Left + (i * slot) + 1)}\" y=\"{F(y)}\" width=\"{F(Math.Max(1, slot - 2))}\" height=\"{F(h)}\" fill=\"{Colour(causes.IndexOf(c.Cause))}\">")
                        .Append("<title>").Append(E($"{Day(days[i])} {c.Cause}: {c.Count}")).Append("</title></rect>");
                }
            }

            DayLabel(svg, days, i, slot);
        }

        for (var k = 0; k < causes.Count; k++)
        {
            var ly = Top + (k * 16);
            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Width - Right + 12}\" y=\"{ly}\" width=\"10\" height=\"10\" fill=\"{Colour(k)}\"/>")
                .Append(CultureInfo.InvariantCulture, $"<text x=\"{Width - Right + 26}\" y=\"{ly + 9}\" font-size=\"11\">{E(causes[k])}</text>");
        }

        if (causes.Count == 0)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + 10}\" y=\"{Top + 20}\" font-size=\"12\">失効なし no revocations</text>");
        }

        return svg.Append("</svg>").ToString();
    }

    /// <summary>p50, p90, p99 and max of arrival → applied per day, as lines over the days that had events.</summary>
    public static string FeedLag(DateOnly from, DateOnly to, IReadOnlyList<DailyFeedLag> lags)
    {
        ArgumentNullException.ThrowIfNull(lags);
        var days = Days(from, to);
        var max = Math.Max(1, lags.Select(l => l.MaxMs).DefaultIfEmpty(0).Max());
        var svg = Open("feed-lag", "住基ネット反映遅延（到着→適用, ms） Feed lag, arrival to applied (ms)");
        Axes(svg, max.ToString("0.#", CultureInfo.InvariantCulture) + " ms");
        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        var slot = plotWidth / (double)days.Count;
        var index = days.Select((d, i) => (d, i)).ToDictionary(p => p.d, p => p.i);
        (string Name, Func<DailyFeedLag, double> Value)[] series = [("p50", l => l.P50Ms), ("p90", l => l.P90Ms), ("p99", l => l.P99Ms), ("max", l => l.MaxMs)];
        for (var s = 0; s < series.Length; s++)
        {
            var points = lags.Where(l => index.ContainsKey(l.Date)).OrderBy(l => l.Date)
                .Select(l => (X: Left + (index[l.Date] * slot) + (slot / 2), Y: Top + plotHeight - (series[s].Value(l) / max * plotHeight), l))
                .ToList();
            if (points.Count > 0)
            {
                svg.Append(CultureInfo.InvariantCulture, $"<polyline class=\"lag-{series[s].Name}\" fill=\"none\" stroke=\"{Colour(s)}\" stroke-width=\"2\" points=\"")
                    .Append(string.Join(' ', points.Select(p => F(p.X) + "," + F(p.Y)))).Append("\"/>");
                foreach (var p in points)
                {
                    svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{F(p.X)}\" cy=\"{F(p.Y)}\" r=\"3\" fill=\"{Colour(s)}\"><title>")
                        .Append(E($"{Day(p.l.Date)} {series[s].Name}: {series[s].Value(p.l).ToString("0.###", CultureInfo.InvariantCulture)} ms ({p.l.Events} events)")).Append("</title></circle>");
                }
            }

            svg.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Width - Right + 12}\" y=\"{Top + (s * 16)}\" width=\"10\" height=\"10\" fill=\"{Colour(s)}\"/>")
                .Append(CultureInfo.InvariantCulture, $"<text x=\"{Width - Right + 26}\" y=\"{Top + (s * 16) + 9}\" font-size=\"11\">{series[s].Name}</text>");
        }

        for (var i = 0; i < days.Count; i++)
        {
            DayLabel(svg, days, i, slot);
        }

        if (lags.Count == 0)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left + 10}\" y=\"{Top + 20}\" font-size=\"12\">イベントなし no events</text>");
        }

        return svg.Append("</svg>").ToString();
    }

    private static List<DateOnly> Days(DateOnly from, DateOnly to) =>
        Enumerable.Range(0, to.DayNumber - from.DayNumber + 1).Select(from.AddDays).ToList();

    private static StringBuilder Open(string id, string title) =>
        new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-label=\"{E(title)}\">")
            .Append("<title>").Append(E(title)).Append("</title>");

    private static void Axes(StringBuilder svg, string maxLabel)
    {
        var bottom = Height - Bottom;
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{bottom}\" stroke=\"#333\"/>")
            .Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{bottom}\" x2=\"{Width - Right}\" y2=\"{bottom}\" stroke=\"#333\"/>")
            .Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 4}\" y=\"{Top + 10}\" font-size=\"11\" text-anchor=\"end\">{E(maxLabel)}</text>")
            .Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 4}\" y=\"{bottom}\" font-size=\"11\" text-anchor=\"end\">0</text>");
    }

    private static void DayLabel(StringBuilder svg, List<DateOnly> days, int i, double slot)
    {
        var every = Math.Max(1, (int)Math.Ceiling(days.Count / 8.0));
        if ((i % every == 0 && i + every <= days.Count - 1) || i == days.Count - 1)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(Left + (i * slot) + (slot / 2))}\" y=\"{Height - Bottom + 14}\" font-size=\"10\" text-anchor=\"middle\">{E(days[i].ToString("MM-dd", CultureInfo.InvariantCulture))}</text>");
        }
    }

    private static string Colour(int index) => Palette[((index % Palette.Length) + Palette.Length) % Palette.Length];

    private static string Day(DateOnly date) => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string F(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
