using System.CommandLine;
using System.Text.Json;
using Jpki.Benchmarks;
using Jpki.Cli;

// ./jpki bench [name] [--out DIR] [--seconds S] [--rounds N] [--entries N (crl, default 1,000,000)]
//   [--requests N (issuance, default 800; their card keys are kept in DIR/issuance-csrs.txt)]
// Each benchmark needs its own SoftHSM configuration, and a process loads the module once:
// ./jpki runs one process per benchmark.
// Writes DIR/<name>.json (a list of figures, docs/design.md §9) and prints a table.
var known = new[] { "signer", "issuance", "crl", "ocsp", "jukinet", "verify" };
var outDir = "";
var seconds = 2.0;
var rounds = 5;
var crlEntries = 1_000_000;
var issuanceRequests = 800;
var modulePath = Environment.GetEnvironmentVariable("JPKI_PKCS11_MODULE") is { Length: > 0 } m ? m : "/usr/lib/softhsm/libsofthsm2.so";

var nameArgument = new Argument<string[]>("name") { Description = "the benchmarks to run (default: all)", Arity = ArgumentArity.ZeroOrMore };
nameArgument.AcceptOnlyFromAmong(known);
var outOption = new Option<string>("--out") { Description = "where to write <name>.json (default: $JPKI_HOME/bench)", HelpName = "DIR" };
var secondsOption = new Option<double>("--seconds") { Description = "measuring window per figure", HelpName = "S", DefaultValueFactory = _ => 2.0 };
var roundsOption = new Option<int>("--rounds") { Description = "rounds of the signer benchmark", HelpName = "N", DefaultValueFactory = _ => 5 };
var entriesOption = new Option<int>("--entries") { Description = "revoked certificates in the crl benchmark's CRL", HelpName = "N", DefaultValueFactory = _ => 1_000_000 };
var requestsOption = new Option<int>("--requests") { Description = "issuance requests (their card keys are kept in DIR/issuance-csrs.txt)", HelpName = "N", DefaultValueFactory = _ => 800 };
var bench = new Command("bench", "Benchmarks against their baselines; writes DIR/<name>.json (a list of figures) and prints a table. ./jpki bench runs one process per benchmark (each loads SoftHSM with a configuration of its own).")
{
    nameArgument, outOption, secondsOption, roundsOption, entriesOption, requestsOption,
};
foreach (var positive in new Option[] { secondsOption, roundsOption, entriesOption, requestsOption })
{
    positive.Validators.Add(result =>
    {
        if (result.Tokens.Count > 0 && double.TryParse(result.Tokens[^1].Value, System.Globalization.CultureInfo.InvariantCulture, out var value) && value <= 0)
        {
            result.AddError($"{positive.Name} must be positive");
        }
    });
}

bench.SetAction(async (parse, _) =>
{
    outDir = parse.GetValue(outOption) ?? Path.Combine(Environment.GetEnvironmentVariable("JPKI_HOME") ?? "var", "bench");
    seconds = parse.GetValue(secondsOption);
    rounds = parse.GetValue(roundsOption);
    crlEntries = parse.GetValue(entriesOption);
    issuanceRequests = parse.GetValue(requestsOption);
    var names = parse.GetValue(nameArgument) is { Length: > 0 } given ? given : known;
    await RunAllAsync(names);
    return 0;
});
bench.WithExamples("./jpki bench signer", "./jpki bench crl --entries 100000", "./jpki bench issuance --requests 3000")
    .WithExitCodes((0, "every benchmark ran; figures written"), (1, "a benchmark failed (its exception on standard error)"));
// ./jpki bench scale [fill --rows N] [--postgres]: national scale (issue 19) on installs kept under
// DIR/scale*, so that a fill of millions of rows is made once (resumable) and measured many times.
var scaleOut = new Option<string>("--out") { Description = "where the scale installs live (DIR/scale, DIR/scale-pg, DIR/scale-100k) and scale.json is written (default: $JPKI_HOME/bench)", HelpName = "DIR" };
var scalePostgres = new Option<bool>("--postgres") { Description = "the store of DIR/scale-pg, on the PostgreSQL server ./jpki bench scale --postgres starts for it (its jpki.json names it)" };
var scaleSeconds = new Option<double>("--seconds") { Description = "measuring window per OCSP figure", HelpName = "S", DefaultValueFactory = _ => 10.0 };
var scale = new Command("scale", "National scale: OCSP with a Zipf (s = 1.0) query mix over every row of the filled 47-prefecture store, its hit ratio, and the hit and miss paths against a 100,000-row store in the same run.") { scaleOut, scalePostgres, scaleSeconds };
var rowsOption = new Option<long>("--rows") { Description = "rows the store is to hold (10% revoked)", HelpName = "N", DefaultValueFactory = _ => 10_000_000 };
var batchOption = new Option<int>("--batch") { Description = "rows per transaction", HelpName = "N", DefaultValueFactory = _ => 20_000 };
var fill = new Command("fill", "Makes the 47-prefecture install (94 issuers; the ceremony's time is a figure) and fills its store with synthetic certificate rows up to --rows, resuming where a killed fill stopped; prints progress and rows/s.") { rowsOption, batchOption, scaleOut, scalePostgres };
foreach (var positive in new Option[] { rowsOption, batchOption, scaleSeconds })
{
    positive.Validators.Add(result =>
    {
        if (result.Tokens.Count > 0 && double.TryParse(result.Tokens[^1].Value, System.Globalization.CultureInfo.InvariantCulture, out var value) && value <= 0)
        {
            result.AddError($"{positive.Name} must be positive");
        }
    });
}

string ScaleDir(ParseResult parse) => parse.GetValue(scaleOut) ?? Path.Combine(Environment.GetEnvironmentVariable("JPKI_HOME") ?? "var", "bench");
fill.SetAction(parse =>
{
    var dir = ScaleDir(parse);
    Write(dir, "scale-fill", new ScaleBenchmark(dir, modulePath, parse.GetValue(scalePostgres), TimeSpan.Zero).Fill(parse.GetValue(rowsOption), parse.GetValue(batchOption)));
    return 0;
});
scale.SetAction(async (parse, _) =>
{
    var dir = ScaleDir(parse);
    Write(dir, "scale", await new ScaleBenchmark(dir, modulePath, parse.GetValue(scalePostgres), TimeSpan.FromSeconds(parse.GetValue(scaleSeconds))).RunAsync());
    return 0;
});
scale.Subcommands.Add(fill
    .WithExamples("./jpki bench scale fill --rows 1000000", "./jpki bench scale fill --rows 10000000 --postgres")
    .WithExitCodes((0, "the store holds --rows rows"), (1, "failed (kill it any time: the next run resumes)")));
scale.WithExamples("./jpki bench scale", "./jpki bench scale --postgres --seconds 20")
    .WithExitCodes((0, "figures written to DIR/scale.json"), (1, "failed, or the store is not filled (bench scale fill first)"));

var root = CliApp.Root("jpki", "JPKI benchmarks.");
root.Subcommands.Add(bench);
root.Subcommands.Add(scale);

// ./jpki bench rollover [--rows N]: issue 17 at size, on a one-prefecture install kept under DIR/rollover-N.
var rolloverRows = new Option<long>("--rows") { Description = "certificates in the kept store (10% revoked; synthetic rows, made once)", HelpName = "N", DefaultValueFactory = _ => 1_000_000 };
rolloverRows.Validators.Add(result =>
{
    if (result.GetValueOrDefault<long>() <= 0)
    {
        result.AddError("--rows must be positive");
    }
});
var rolloverOut = new Option<string>("--out") { Description = "where the kept install (DIR/rollover-N) lives and rollover.json is written (default: $JPKI_HOME/bench)", HelpName = "DIR" };
var rollover = new Command("rollover", "A CA's whole life at size (issue 17): backup and restore time and archive size of a store of N certificates, then on the restored copy the rollover ceremony of yamaguchi-ken-signing and the first complete CRL of each generation.") { rolloverRows, rolloverOut };
rollover.SetAction(parse =>
{
    var dir = parse.GetValue(rolloverOut) ?? Path.Combine(Environment.GetEnvironmentVariable("JPKI_HOME") ?? "var", "bench");
    Write(dir, "rollover", new RolloverBenchmark(dir, modulePath, parse.GetValue(rolloverRows)).Measure());
    return 0;
});
rollover.WithExamples("./jpki bench rollover", "./jpki bench rollover --rows 20000")
    .WithExitCodes((0, "figures written to DIR/rollover.json"), (1, "a step failed (the verb and its output on standard error)"));
root.Subcommands.Add(rollover);
return await CliApp.RunAsync(root, args.Length > 0 && args[0] is "bench" or "scale" or "rollover" ? args : ["bench", .. args]);

void Write(string dir, string name, IReadOnlyList<Figure> figures)
{
    Directory.CreateDirectory(dir);
    var path = Path.Combine(dir, name + ".json");
    File.WriteAllText(path, JsonSerializer.Serialize(figures, new JsonSerializerOptions { WriteIndented = true }));
    PrintTable(figures);
    Console.WriteLine($"written to {path}");
}

void PrintTable(IReadOnlyList<Figure> figures)
{
    Console.WriteLine($"{"figure",-34} {"value",12} {"unit",-14} {"baseline",-40} {"baseline value",14} {"ratio",7}");
    foreach (var f in figures)
    {
        Console.WriteLine($"{f.Name,-34} {f.Value,12:0.0} {f.Unit,-14} {f.Baseline,-40} {f.BaselineValue,14:0.0} {f.Ratio,7:0.000}");
    }
}

async Task RunAllAsync(IReadOnlyList<string> names)
{
    Directory.CreateDirectory(outDir);
    var progress = new StepProgress(names.Count);
    foreach (var name in names)
    {
        progress.Step($"benchmark {name}");
        IReadOnlyList<Figure> figures = name switch
        {
            "signer" => RunSigner(),
            "issuance" => await RunIssuanceAsync(),
            "crl" => RunCrl(),
            "ocsp" => await RunOcspAsync(),
            // The verification service against openssl cms -verify: 2 clients (the machine's cores), 50 filings.
            "verify" => await new VerifyBenchmark(TimeSpan.FromSeconds(Math.Max(seconds, 5)), 50, 2).RunAsync(),
            _ => RunJukiNet(),
        };
        var path = Path.Combine(outDir, name + ".json");
        File.WriteAllText(path, JsonSerializer.Serialize(figures, new JsonSerializerOptions { WriteIndented = true }));
        PrintTable(figures);

        Console.WriteLine($"written to {path}");
    }

    progress.Done($"{names.Count} benchmarks");
}

async Task<IReadOnlyList<Figure>> RunIssuanceAsync()
{
    var dir = Directory.CreateTempSubdirectory("jpki-bench-issuance-").FullName;
    try
    {
        return await new IssuanceBenchmark(dir, TimeSpan.FromSeconds(Math.Max(seconds, 5) * 2), issuanceRequests, Path.Combine(outDir, "issuance-csrs.txt")).RunAsync(modulePath);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}

IReadOnlyList<Figure> RunCrl()
{
    var dir = Directory.CreateTempSubdirectory("jpki-bench-crl-").FullName;
    try
    {
        return new CrlBenchmark(dir, crlEntries).Run(modulePath);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}

async Task<IReadOnlyList<Figure>> RunOcspAsync()
{
    var dir = Directory.CreateTempSubdirectory("jpki-bench-ocsp-").FullName;
    try
    {
        // 100,000 certificates in the store (10% revoked), wrk asking for random serials of all
        // of them, so every answer is signed in the warm-up first (RSA-2048 in SoftHSM: about
        // 50 s on 2 cores), wrk for 10 s per target, 50 revocations timed.
        return await new OcspBenchmark(dir, 100_000, 100_000, TimeSpan.FromSeconds(Math.Max(seconds, 5) * 2), 50).RunAsync(modulePath);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}

IReadOnlyList<Figure> RunJukiNet()
{
    // PostgreSQL too when a server is named (a fresh database is made there for each store).
    var postgres = Environment.GetEnvironmentVariable("JPKI_BENCH_PG") is { Length: > 0 } pg ? pg : Environment.GetEnvironmentVariable("JPKI_TEST_PG");
    var dir = Directory.CreateTempSubdirectory("jpki-bench-jukinet-").FullName;
    try
    {
        return new JukiNetBenchmark(dir, residents: int.Parse(Environment.GetEnvironmentVariable("JPKI_BENCH_RESIDENTS") ?? "50000"), events: int.Parse(Environment.GetEnvironmentVariable("JPKI_BENCH_EVENTS") ?? "100000"), pageSize: 500).Run(modulePath, postgres);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}

IReadOnlyList<Figure> RunSigner()
{
    var dir = Directory.CreateTempSubdirectory("jpki-bench-hsm-").FullName;
    try
    {
        return new SignerBenchmark(dir, TimeSpan.FromSeconds(seconds), rounds).Run(modulePath);
    }
    finally
    {
        Directory.Delete(dir, recursive: true);
    }
}
