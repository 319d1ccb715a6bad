using System.Globalization;
using Jpki.Core.Audit;

namespace Jpki.Ca.Auditing;

/// <summary>A bar segment of one day and cause, its tooltip as its title.</summary>
public sealed record ChartBar(string X, string Y, string Width, string Height, string Fill, string Title);

/// <summary>One series of the feed-lag chart: its polyline (class <c>lag-p50</c> ...) and its points with their tooltips.</summary>
public sealed record ChartSeries(string Class, string Stroke, string Points, IReadOnlyList<ChartPoint> Circles);

public sealed record ChartPoint(string X, string Y, string Title);

/// <summary>A legend entry: its colour swatch at (X, Y), its text beside it.</summary>
public sealed record ChartLegend(int X, int Y, string Colour, string Text)
{
    public int TextX => X + 14;

    public int TextY => Y + 9;
}

/// <summary>A day's label (MM-dd) under the axis, centred on its slot.</summary>
public sealed record ChartLabel(string X, int Y, string Text);

/// <summary>
/// One inline SVG chart as the <c>SvgChart</c> view draws it: every coordinate already placed and
/// written, every text a value for Razor's encoder.
/// </summary>
public sealed record SvgChart(
    string Id,
    string Title,
    string MaxLabel,
    IReadOnlyList<ChartBar> Bars,
    IReadOnlyList<ChartSeries> Series,
    IReadOnlyList<ChartLegend> Legend,
    IReadOnlyList<ChartLabel> DayLabels,
    string? Empty)
{
    public const int Width = 760;
    public const int Height = 260;
    public const int Left = 56;
    public const int Right = 180;
    public const int Top = 16;
    public const int Bottom = 40;
    public const int PlotWidth = Width - Left - Right;
    public const int PlotHeight = Height - Top - Bottom;
}

/// <summary>
/// The auditor pages' charts (no script, no library): revocations per JST day stacked by cause,
/// and the feed lag percentiles per day. This places the shapes; the SvgChart view writes them.
/// </summary>
public static class SvgCharts
{
    private static readonly string[] Palette =
        ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];

    /// <summary>One bar per day from..to, one coloured segment per cause, a legend on the right.</summary>
    public static SvgChart RevocationsPerDay(DateOnly from, DateOnly to, IReadOnlyList<DailyCauseCount> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var days = Days(from, to);
        var causes = counts.Select(c => c.Cause).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var byDay = counts.GroupBy(c => c.Date).ToDictionary(g => g.Key, g => g.ToList());
        var max = Math.Max(1, byDay.Values.Select(v => v.Sum(c => c.Count)).DefaultIfEmpty(0).Max());
        var slot = SvgChart.PlotWidth / (double)days.Count;
        var bars = new List<ChartBar>();
        for (var i = 0; i < days.Count; i++)
        {
            var y = (double)(SvgChart.Top + SvgChart.PlotHeight);
            foreach (var c in byDay.GetValueOrDefault(days[i], []).OrderBy(c => c.Cause, StringComparer.Ordinal))
            {
                var h = c.Count / (double)max * SvgChart.PlotHeight;
                y -= h;
                bars.Add(new ChartBar(F(SvgChart.Left + (i * slot) + 1), F(y), F(Math.Max(1, slot - 2)), F(h), Colour(causes.IndexOf(c.Cause)), $"{Day(days[i])} {c.Cause}: {c.Count}"));
            }
        }

        return new SvgChart(
            "revocations-per-day",
            "失効件数（日別・事由別） Revocations per day by cause",
            max.ToString(CultureInfo.InvariantCulture),
            bars,
            [],
            causes.Select((cause, k) => LegendEntry(k, cause)).ToList(),
            DayLabels(days, slot),
            causes.Count == 0 ? "失効なし no revocations" : null);
    }

    /// <summary>p50, p90, p99 and max of arrival → applied per day, as lines over the days that had events.</summary>
    public static SvgChart FeedLag(DateOnly from, DateOnly to, IReadOnlyList<DailyFeedLag> lags)
    {
        ArgumentNullException.ThrowIfNull(lags);
        var days = Days(from, to);
        var max = Math.Max(1, lags.Select(l => l.MaxMs).DefaultIfEmpty(0).Max());
        var slot = SvgChart.PlotWidth / (double)days.Count;
        var index = days.Select((d, i) => (d, i)).ToDictionary(p => p.d, p => p.i);
        (string Name, Func<DailyFeedLag, double> Value)[] measures = [("p50", l => l.P50Ms), ("p90", l => l.P90Ms), ("p99", l => l.P99Ms), ("max", l => l.MaxMs)];
        var series = new List<ChartSeries>();
        for (var s = 0; s < measures.Length; s++)
        {
            var (name, value) = measures[s];
            var points = lags.Where(l => index.ContainsKey(l.Date)).OrderBy(l => l.Date)
                .Select(l => new ChartPoint(
                    F(SvgChart.Left + (index[l.Date] * slot) + (slot / 2)),
                    F(SvgChart.Top + SvgChart.PlotHeight - (value(l) / max * SvgChart.PlotHeight)),
                    $"{Day(l.Date)} {name}: {value(l).ToString("0.###", CultureInfo.InvariantCulture)} ms ({l.Events} events)"))
                .ToList();
            series.Add(new ChartSeries("lag-" + name, Colour(s), string.Join(' ', points.Select(p => p.X + "," + p.Y)), points));
        }

        return new SvgChart(
            "feed-lag",
            "住基ネット反映遅延（到着→適用, ms） Feed lag, arrival to applied (ms)",
            max.ToString("0.#", CultureInfo.InvariantCulture) + " ms",
            [],
            series.Where(s => s.Circles.Count > 0).ToList(),
            measures.Select((m, k) => LegendEntry(k, m.Name)).ToList(),
            DayLabels(days, slot),
            lags.Count == 0 ? "イベントなし no events" : null);
    }

    private static List<DateOnly> Days(DateOnly from, DateOnly to) =>
        Enumerable.Range(0, to.DayNumber - from.DayNumber + 1).Select(from.AddDays).ToList();

    private static ChartLegend LegendEntry(int k, string text) =>
        new(SvgChart.Width - SvgChart.Right + 12, SvgChart.Top + (k * 16), Colour(k), text);

    /// <summary>About eight labels (MM-dd) under the axis, the last day always among them.</summary>
    private static List<ChartLabel> DayLabels(List<DateOnly> days, double slot)
    {
        var every = Math.Max(1, (int)Math.Ceiling(days.Count / 8.0));
        return Enumerable.Range(0, days.Count)
            .Where(i => (i % every == 0 && i + every <= days.Count - 1) || i == days.Count - 1)
            .Select(i => new ChartLabel(F(SvgChart.Left + (i * slot) + (slot / 2)), SvgChart.Height - SvgChart.Bottom + 14, days[i].ToString("MM-dd", CultureInfo.InvariantCulture)))
            .ToList();
    }

    private static string Colour(int index) => Palette[((index % Palette.Length) + Palette.Length) % Palette.Length];

    private static string Day(DateOnly date) => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string F(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);
}
