using System.Globalization;

namespace Jpki.JukiNet.Simulator;

/// <summary>
/// The simulator's command line: <c>--db PATH --urls URLS --residents N --seed S</c>, the change
/// generator (<c>--changes-per-second R [--changes-limit N] [--changes-seed S]</c>) and the fault
/// switches (<c>--fault-*</c>, the members of <see cref="FaultSettings"/>).
/// </summary>
public sealed record SimulatorSettings
{
    public const string DefaultUrls = "http://127.0.0.1:8084";
    public const int MaxRequestBodyBytes = 64 * 1024;

    public const string Usage =
        "usage: Jpki.JukiNet.Simulator [--db PATH] [--urls URLS] [--residents N] [--seed S]\n"
        + "         [--changes-per-second R [--changes-limit N] [--changes-seed S]] [--fault-NAME VALUE ...]\n"
        + "  --db PATH                 SQLite file of the simulated registry (default $JPKI_HOME/jukinet-sim.db)\n"
        + "  --urls URLS               where to listen (default " + DefaultUrls + "; port 0 picks a free port)\n"
        + "  --residents N             residents generated on the first start of a new file (default 1000)\n"
        + "  --seed S                  seed of the generated population (default 1)\n"
        + "  --changes-per-second R    append random valid change events at R per second (at most 5000)\n"
        + "  --changes-limit N         ... and stop after N of them (default: run until stopped)\n"
        + "  --changes-seed S          seed of the random changes (default 1)\n"
        + "  --fault-seed S, --fault-duplicates F, --fault-late F, --fault-late-release-polls N,\n"
        + "  --fault-late-release-ms MS, --fault-reorder F, --fault-malformed F, --fault-unknown-residents F,\n"
        + "  --fault-outage-requests N, --fault-outage-ms MS, --fault-outage unavailable|abort, --fault-slow-ms MS\n"
        + "                            fault switches from the start, as PUT /api/v1/faults sets them (F: fraction 0-1)";

    public required string DatabasePath { get; init; }

    public string Urls { get; init; } = DefaultUrls;

    public int Residents { get; init; } = 1000;

    public int Seed { get; init; } = 1;

    /// <summary>Fault switches in force from the start.</summary>
    public FaultSettings Faults { get; init; } = FaultSettings.Off;

    /// <summary>A change generator to run from the start, or null.</summary>
    public GeneratorSettings? Generator { get; init; }

    /// <summary>Reads the command line; throws <see cref="ArgumentException"/> naming the bad argument.</summary>
    public static SimulatorSettings FromArgs(IReadOnlyList<string> args, string jpkiHome)
    {
        ArgumentNullException.ThrowIfNull(args);
        var settings = new SimulatorSettings { DatabasePath = Path.Combine(jpkiHome, "jukinet-sim.db") };
        double? changesPerSecond = null;
        long? changesLimit = null;
        int? changesSeed = null;
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Count)
            {
                throw new ArgumentException($"{name} needs a value");
            }

            var value = args[++i];
            switch (name)
            {
                case "--changes-per-second":
                    changesPerSecond = double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var rate)
                        ? rate
                        : throw new ArgumentException($"{name} needs a positive number");
                    break;
                case "--changes-limit":
                    changesLimit = ParseCount(name, value);
                    break;
                case "--changes-seed":
                    changesSeed = ParseCount(name, value);
                    break;
                default:
                    settings = name switch
                    {
                        "--db" => settings with { DatabasePath = value },
                        "--urls" => settings with { Urls = value },
                        "--residents" => settings with { Residents = ParseCount(name, value) },
                        "--seed" => settings with { Seed = ParseCount(name, value) },
                        _ => settings with
                        {
                            Faults = settings.Faults.WithOption(name, value) ?? throw new ArgumentException($"unknown argument {name}"),
                        },
                    };
                    break;
            }
        }

        return Checked(settings, changesPerSecond, changesLimit, changesSeed);
    }

    /// <summary>The fault switches checked, and the change generator if a rate was given.</summary>
    private static SimulatorSettings Checked(SimulatorSettings settings, double? changesPerSecond, long? changesLimit, int? changesSeed)
    {
        if (settings.Faults.Check() is { } faultError)
        {
            throw new ArgumentException($"fault switches: {faultError}");
        }

        if (changesPerSecond is null)
        {
            return changesLimit is null && changesSeed is null
                ? settings
                : throw new ArgumentException("--changes-limit and --changes-seed need --changes-per-second");
        }

        var generator = new GeneratorSettings { ChangesPerSecond = changesPerSecond.Value, Limit = changesLimit, Seed = changesSeed ?? 1 };
        return generator.Check() is { } generatorError
            ? throw new ArgumentException($"change generator: {generatorError}")
            : settings with { Generator = generator };
    }

    private static int ParseCount(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            ? count
            : throw new ArgumentException($"{name} needs a non-negative integer");
}
