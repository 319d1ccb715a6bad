using System.Globalization;

namespace Jpki.JukiNet.Simulator;

/// <summary>The simulator's command line: <c>--db PATH --urls URLS --residents N --seed S</c>.</summary>
public sealed record SimulatorSettings
{
    public const string DefaultUrls = "http://127.0.0.1:8084";
    public const int MaxRequestBodyBytes = 64 * 1024;

    public const string Usage =
        "usage: Jpki.JukiNet.Simulator [--db PATH] [--urls URLS] [--residents N] [--seed S]\n"
        + "  --db PATH       SQLite file of the simulated registry (default $JPKI_HOME/jukinet-sim.db)\n"
        + "  --urls URLS     where to listen (default " + DefaultUrls + "; port 0 picks a free port)\n"
        + "  --residents N   residents generated on the first start of a new file (default 1000)\n"
        + "  --seed S        seed of the generated population (default 1)";

    public required string DatabasePath { get; init; }

    public string Urls { get; init; } = DefaultUrls;

    public int Residents { get; init; } = 1000;

    public int Seed { get; init; } = 1;

    /// <summary>Reads the command line; throws <see cref="ArgumentException"/> naming the bad argument.</summary>
    public static SimulatorSettings FromArgs(IReadOnlyList<string> args, string jpkiHome)
    {
        ArgumentNullException.ThrowIfNull(args);
        var settings = new SimulatorSettings { DatabasePath = Path.Combine(jpkiHome, "jukinet-sim.db") };
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Count)
            {
                throw new ArgumentException($"{name} needs a value");
            }

            var value = args[++i];
            settings = name switch
            {
                "--db" => settings with { DatabasePath = value },
                "--urls" => settings with { Urls = value },
                "--residents" => settings with { Residents = ParseCount(name, value) },
                "--seed" => settings with { Seed = ParseCount(name, value) },
                _ => throw new ArgumentException($"unknown argument {name}"),
            };
        }

        return settings;
    }

    private static int ParseCount(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            ? count
            : throw new ArgumentException($"{name} needs a non-negative integer");
}
