using System.Globalization;
using System.Text.RegularExpressions;

namespace Jpki.Testing;

/// <summary>One sample of a Prometheus text scrape: metric name, labels, value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>A scrape of <c>/metrics</c> read as the Prometheus text format (what a Prometheus server would store).</summary>
public sealed partial class PrometheusText
{
    private PrometheusText(string text, IReadOnlyList<PrometheusSample> samples)
    {
        Text = text;
        Samples = samples;
    }

    public string Text { get; }

    public IReadOnlyList<PrometheusSample> Samples { get; }

    public static PrometheusText Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<PrometheusSample>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var match = Sample().Match(line);
            if (!match.Success)
            {
                throw new FormatException("not a Prometheus sample line: " + line);
            }

            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (Match label in Label().Matches(match.Groups["labels"].Value))
            {
                labels[label.Groups["key"].Value] = label.Groups["value"].Value.Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);
            }

            var value = match.Groups["value"].Value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add(new PrometheusSample(match.Groups["name"].Value, labels, value));
        }

        return new PrometheusText(text, samples);
    }

    /// <summary>Scrapes <c>{service}metrics</c> until <paramref name="ready"/> holds or 30 s pass (the exporter caches a scrape briefly).</summary>
    public static async Task<PrometheusText> ScrapeAsync(HttpClient http, Uri service, Func<PrometheusText, bool> ready)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(ready);
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            using var response = await http.GetAsync(new Uri(service, "metrics"));
            response.EnsureSuccessStatusCode();
            var scrape = Parse(await response.Content.ReadAsStringAsync());
            if (ready(scrape) || DateTime.UtcNow > until)
            {
                return scrape;
            }

            await Task.Delay(200);
        }
    }

    /// <summary>The samples of one metric whose labels include every one given (<c>"key=value"</c>).</summary>
    public IEnumerable<PrometheusSample> Of(string name, params string[] labels) =>
        Samples.Where(s => s.Name == name && labels.All(l => l.Split('=', 2) is [var k, var v] && s.Labels.TryGetValue(k, out var actual) && actual == v));

    /// <summary>The sum over the matching samples (0 when none).</summary>
    public double Sum(string name, params string[] labels) => Of(name, labels).Sum(s => s.Value);

    /// <summary>The <c>service.name</c> of the scraped process, from <c>target_info</c>.</summary>
    public string? ServiceName => Of("target_info").Select(s => s.Labels.GetValueOrDefault("service_name")).FirstOrDefault();

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\S+)?\s*$")]
    private static partial Regex Sample();

    [GeneratedRegex(@"(?<key>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(\\.|[^""\\])*)""")]
    private static partial Regex Label();
}
