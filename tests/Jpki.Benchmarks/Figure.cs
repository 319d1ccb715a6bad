using System.Text.Json.Serialization;

namespace Jpki.Benchmarks;

/// <summary>One benchmark figure in the docs/design.md §9 format: a value, its baseline from the same run, and their ratio.</summary>
public sealed record Figure(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("value")] double Value,
    [property: JsonPropertyName("unit")] string Unit,
    [property: JsonPropertyName("baseline")] string Baseline,
    [property: JsonPropertyName("baselineValue")] double BaselineValue,
    [property: JsonPropertyName("ratio")] double Ratio)
{
    public static Figure Against(string name, double value, string unit, string baseline, double baselineValue) =>
        new(name, Math.Round(value, 1), unit, baseline, Math.Round(baselineValue, 1), baselineValue > 0 ? Math.Round(value / baselineValue, 3) : 0);
}
