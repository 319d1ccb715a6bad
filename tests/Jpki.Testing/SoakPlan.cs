using System.Globalization;
using System.Security.Cryptography;

namespace Jpki.Testing;

/// <summary>
/// How many seeded kill points a crash test runs, and from which seed. <c>./jpki test</c> runs a
/// few points from a fresh seed; <c>./jpki soak</c> sets JPKI_SOAK_POINTS (100 by default) and,
/// with <c>--seed</c>, JPKI_SOAK_SEED, so a failing run is repeated exactly. The seed is in every
/// failure message and in the report line.
/// </summary>
public sealed record SoakPlan(string Campaign, int Points, int Seed)
{
    public static SoakPlan For(string campaign, int testPoints)
    {
        var points = int.TryParse(Environment.GetEnvironmentVariable("JPKI_SOAK_POINTS"), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p > 0 ? p : testPoints;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("JPKI_SOAK_SEED"), NumberStyles.None, CultureInfo.InvariantCulture, out var s)
            ? s
            : RandomNumberGenerator.GetInt32(1, int.MaxValue);
        return new SoakPlan(campaign, points, seed);
    }

    /// <summary>What a failure message starts with: enough to run the same points again.</summary>
    public string Repeat => $"[{Campaign} soak, seed {Seed}, {Points} points: ./jpki soak {Campaign} --points {Points} --seed {Seed}]";

    /// <summary>The campaign's counts: on the test's output and in the summary of ./jpki test and ./jpki soak.</summary>
    public void Report(string counts)
    {
        var line = $"soak {Campaign}: seed {Seed}, {counts}";
        Console.WriteLine(line);
        AccessMatrix.Report(line);
    }
}
