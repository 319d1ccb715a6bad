using System.CommandLine;
using System.Globalization;
using Jpki.Cli;

namespace Jpki.JukiNet.Simulator;

/// <summary>
/// <c>./jpki residents list [--municipality CODE] [--limit N]</c> and <c>./jpki residents show
/// CODE</c>: finding a synthetic resident to enrol or test with. Reads the simulator's own SQLite
/// file, read-only, through <see cref="SimulatorStore"/>: it works whether or not the simulator
/// runs, and the registry has no list endpoint to call (docs/decisions/0038-residents-verb-reads-simulator-file.md).
/// </summary>
public static class ResidentsCommand
{
    private const int NotFound = 1;

    public static Task<int> RunAsync(IReadOnlyList<string> args) => CliApp.RunAsync(Build(), args);

    private static Command Build()
    {
        var db = new Option<string>("--db") { Description = "the simulator's SQLite file (default: $JPKI_HOME/jukinet-sim.db)", HelpName = "PATH", Recursive = true };
        var residents = new Command("residents", "Find residents in the Juki-Net simulator's registry (its SQLite file, read-only).") { db };

        var municipality = new Option<string>("--municipality") { Description = "only this municipality (6-digit local government code, e.g. 352012 山口市)", HelpName = "CODE" };
        municipality.Validators.Add(r =>
        {
            var text = r.GetValueOrDefault<string>();
            if (text is not null && !MunicipalityCode.TryParse(text, out _, out var error))
            {
                r.AddError($"--municipality: {error}");
            }
        });
        var limit = new Option<int>("--limit") { Description = "at most this many", HelpName = "N", DefaultValueFactory = _ => 20 };
        limit.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > 100_000)
            {
                r.AddError("--limit must be 1-100000");
            }
        });
        var list = new Command("list", "Residents in code order: code, status, municipality, date of birth, sex, name.") { municipality, limit };
        list.SetAction(async (parse, _) => await WithStoreAsync(parse.GetValue(db), store => ListAsync(
            store,
            parse.GetValue(municipality) is { } code ? MunicipalityCode.Parse(code) : null,
            parse.GetValue(limit))));
        residents.Subcommands.Add(list
            .WithExamples("./jpki residents list", "./jpki residents list --municipality 352012 --limit 5")
            .WithExitCodes((0, "listed (none is not an error)"), (NotFound, "no simulator database (run ./jpki up first)")));

        var code = new Argument<string>("CODE") { Description = "the 11-digit resident code (住民票コード)" };
        code.Validators.Add(r =>
        {
            if (!ResidentCode.TryParse(r.GetValueOrDefault<string>(), out _, out var error))
            {
                r.AddError(error);
            }
        });
        var show = new Command("show", "Everything the registry holds on one resident: the four facts, substitute characters, municipality, status, change sequence.") { code };
        show.SetAction(async (parse, _) => await WithStoreAsync(parse.GetValue(db), store => ShowAsync(store, ResidentCode.Parse(parse.GetValue(code)!))));
        residents.Subcommands.Add(show
            .WithExamples("./jpki residents show 00122210273")
            .WithExitCodes((0, "shown"), (NotFound, "no resident with that code, or no simulator database")));

        var root = CliApp.Root("jpki", "The Juki-Net simulator's registry.");
        root.Subcommands.Add(residents);
        return root;
    }

    private static async Task<int> WithStoreAsync(string? path, Func<SimulatorStore, Task<int>> verb)
    {
        var databasePath = path ?? Path.Combine(
            Environment.GetEnvironmentVariable("JPKI_HOME") is { Length: > 0 } home ? home : Path.Combine(Environment.CurrentDirectory, "var"),
            "jukinet-sim.db");
        try
        {
            return await verb(SimulatorStore.OpenReadOnly(databasePath));
        }
        catch (FileNotFoundException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}");
            return NotFound;
        }
    }

    private static async Task<int> ListAsync(SimulatorStore store, MunicipalityCode? municipality, int limit)
    {
        var residents = await store.ListResidentsAsync(municipality, limit);
        // Kanji last: they are two columns wide on a terminal, so nothing is aligned after them.
        Console.Out.WriteLine($"{"resident code",-13} {"status",-10} {"municipality",-12} {"born",-10} {"sex",-7} name");
        foreach (var r in residents)
        {
            Console.Out.WriteLine($"{r.ResidentCode.Digits,-13} {Status(r.Status),-10} {r.MunicipalityCode.Value,-12} {r.DateOfBirth.ToIso(),-10} {Sex(r.Sex),-7} {r.Name}");
        }

        if (residents.Count == 0)
        {
            await Console.Error.WriteLineAsync(municipality is null ? "no residents in the registry" : $"no residents in municipality {municipality.Value}");
        }

        return 0;
    }

    private static async Task<int> ShowAsync(SimulatorStore store, ResidentCode code)
    {
        if (await store.FindResidentAsync(code) is not { } r)
        {
            await Console.Error.WriteLineAsync($"error: no resident with code {code.Digits} in the registry");
            return NotFound;
        }

        var output = Console.Out;
        output.WriteLine($"resident code   {r.ResidentCode.Digits}");
        output.WriteLine($"name            {r.Name}{Substitutes(r.NameSubstitutes)}");
        output.WriteLine($"date of birth   {r.DateOfBirth.ToIso()} (JPKI form {r.DateOfBirth.ToJpki()}, era {r.DateOfBirth.Era})");
        output.WriteLine($"sex             {Sex(r.Sex)} ({(int)r.Sex})");
        output.WriteLine($"address         {r.Address}{Substitutes(r.AddressSubstitutes)}");
        output.WriteLine($"municipality    {Municipality(r.MunicipalityCode)}");
        output.WriteLine($"status          {Status(r.Status)}");
        output.WriteLine($"sequence        {r.Sequence.ToString(CultureInfo.InvariantCulture)} (its latest change event; 0: unchanged since registered)");
        return 0;
    }

    private static string Substitutes(string flags) =>
        flags.Contains('1', StringComparison.Ordinal) ? $" (substitute characters at {string.Join(", ", flags.Select((f, i) => (f, i)).Where(x => x.f == '1').Select(x => x.i + 1))})" : "";

    private static string Municipality(MunicipalityCode code) =>
        Prefecture.Find(code) is { } known ? $"{code.Value} {known.Name}" : code.Value;

    private static string Status(ResidentStatus status) => status switch
    {
        ResidentStatus.Registered => "registered",
        ResidentStatus.MovedOut => "moved-out",
        ResidentStatus.Deleted => "deleted",
        ResidentStatus.Deceased => "deceased",
        _ => status.ToString(),
    };

    private static string Sex(Sex sex) => sex switch
    {
        Jpki.JukiNet.Sex.Male => "male",
        Jpki.JukiNet.Sex.Female => "female",
        _ => "unknown",
    };
}
